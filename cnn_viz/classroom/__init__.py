"""Classroom mode: the class session store (SQLite or Redis) and the check-your-understanding questions."""
