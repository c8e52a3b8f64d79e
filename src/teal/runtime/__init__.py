"""Code that runs inside a Lambda function: no boto3, no CLI, standard library only."""
