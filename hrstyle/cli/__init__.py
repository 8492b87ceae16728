from .app import main
