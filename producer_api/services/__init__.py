"""The API's work, without HTTP: routes call these."""
