"""The application: logging, the actor tree built from config, and the operator facade."""
