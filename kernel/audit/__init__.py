"""The audit log's table and the service that writes it; the console pages are in `shop.audit`."""
