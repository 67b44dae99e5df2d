"""Local development: DynamoDB Local, the demo data and the local server behind `make run`."""
