"""Classroom widgets (ipywidgets + matplotlib). They call the library; the library never imports them."""
