"""Notifications: e-mail now, SMS/Zalo through an outgoing-webhook adapter later."""
