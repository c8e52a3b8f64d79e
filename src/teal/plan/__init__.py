"""What a change would do to a deployed stack, told before anything changes.

The analysis replays CloudFormation's order against API Gateway's rules; the
notes say in the app's words what changes for callers, schedules, queues and
functions. The change set is CloudFormation's own answer beside teal's: the
one part that talks to a cloud (through the seam), to upload the nested
templates CloudFormation reads and to create and delete the change set.
"""
