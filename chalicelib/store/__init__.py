"""Storage: the pynamodb models, their tables, and DynamoDB transactions."""
