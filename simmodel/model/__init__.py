"""The model: the prison estate, its people and their care (imports nothing from the other wings)."""
