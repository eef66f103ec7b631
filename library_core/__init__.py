"""What the kiosk and the record server share: business rules, errors, clock, translations
and the sync contract. Pure Python: it imports nothing else of ours, no Kivy, no requests."""
