"""The UI backend's flow helpers, one module per group of screens (cards, counter, staff), and
the results they hand the screens. ``kiosk.ui.backend.Backend`` composes them."""
