"""The patient's phone pages `/m/` (docs/PORTAL.md): real-name accounts, sessions, the e-voucher
QR code, own settlements, accumulators and filings. `app.setup(app)` adds the routes."""
