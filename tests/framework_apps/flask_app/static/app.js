console.log('notes')
