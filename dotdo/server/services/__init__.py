"""The platform's namespaces, one module each: secrets, db, collections, auth, logs."""
