"""Users and roles (visitor, registered, curator, admin), log-in, sign-up, password flows."""
