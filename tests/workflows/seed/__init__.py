"""The seed's four actor examples, each exactly as the seed gives it except for the import of
ActorEnvironment (this project's flyteactors instead of union.actor), formatted by ruff."""
