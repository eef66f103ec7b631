"""Pure business rules: no I/O, no Kivy, no requests."""
