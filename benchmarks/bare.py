"""The yardstick of the CPU section: /reserve and /commit written by hand on a plain boto3 client.

It makes the DynamoDB calls the app makes for one reserve and its commit, with the same items, keys,
expressions and conditions, parses the event body and dumps the response as the app does; and
nothing else: no framework, no models, no logs or metrics, no retries (the benchmark is sequential).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta, timezone

import boto3
from botocore.config import Config

HOLD_LIFETIME_MS = 5 * 60 * 1000
HOLD_RETENTION_S = 30 * 24 * 3600
JSON_HEADERS = {"Content-Type": "application/json"}
JST = timezone(timedelta(hours=9))


def _iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


class BareHandler:
    """`handler(event)` answers an API Gateway proxy event for POST /reserve or /commit."""

    def __init__(self, table_prefix: str, region: str, config: Config | None = None) -> None:
        self.client = boto3.client("dynamodb", region_name=region, config=config)
        self.tables = {
            name: table_prefix + name for name in ("apps", "accounts", "holds", "postings", "daily_balances")
        }
        # As many app-id GetItems as the app makes: one a request, or none once its cache is warm.
        self.app_lookups = True
        self._apps: dict[str, str] = {}

    def handler(self, event: dict) -> dict:
        body = json.loads(event["body"])
        app_key, app_name = self._caller(event["headers"]["Authorization"].split()[1])
        if event["requestContext"]["resourcePath"] == "/reserve":
            answer = self.reserve(body["bank_id"], body["price"], app_key, app_name)
        else:
            answer = self.commit(body["reserve_ids"][0])
        return {"statusCode": 200, "headers": JSON_HEADERS, "body": json.dumps(answer)}

    def _caller(self, app_id: str) -> tuple[str, str]:
        key_hash = hashlib.sha256(app_id.encode()).hexdigest()
        if self.app_lookups or key_hash not in self._apps:
            item = self.client.get_item(
                TableName=self.tables["apps"],
                Key={"key_hash": {"S": key_hash}},
                ConsistentRead=False,
                ReturnConsumedCapacity="TOTAL",
            )["Item"]
            self._apps[key_hash] = item["name"]["S"]
        return key_hash[:16], self._apps[key_hash]

    def reserve(self, account_id: str, amount: int, app_key: str, description: str) -> dict:
        now = datetime.now(UTC)
        expires_at_ms = -(-(int(now.timestamp() * 1000) + HOLD_LIFETIME_MS) // 1000) * 1000
        reserve_id = secrets.randbelow(2**53 - 1) + 1
        bucket = str(expires_at_ms // 1000)
        hold = {
            "reserve_id": {"N": str(reserve_id)},
            "account_id": {"S": account_id},
            "amount": {"N": str(amount)},
            "status": {"S": "pending"},
            "app_key": {"S": app_key},
            "description": {"S": description},
            "created_at": {"S": _iso(now)},
            "expires_at_ms": {"N": str(expires_at_ms)},
            "purge_at": {"N": str(expires_at_ms // 1000 + HOLD_RETENTION_S)},
        }
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.tables["holds"],
                        "Item": hold,
                        "ConditionExpression": "attribute_not_exists (#0)",
                        "ExpressionAttributeNames": {"#0": "reserve_id"},
                    }
                },
                {
                    "Update": {
                        "TableName": self.tables["accounts"],
                        "Key": {"account_id": {"S": account_id}},
                        "UpdateExpression": "SET #2.#3 = if_not_exists (#2.#3, :2) + :3 ADD #1 :4",
                        "ConditionExpression": "((#0 = :5 AND #1 >= :0) AND size (#2) < :1)",
                        "ExpressionAttributeNames": {"#0": "kind", "#1": "available", "#2": "held", "#3": bucket},
                        "ExpressionAttributeValues": {
                            ":5": {"S": "bank"},
                            ":0": {"N": str(-amount)},
                            ":1": {"N": "400"},
                            ":2": {"N": "0"},
                            ":3": {"N": str(-amount)},
                            ":4": {"N": str(amount)},
                        },
                    }
                },
            ],
            ReturnConsumedCapacity="TOTAL",
        )
        return {"reserve_id": reserve_id}

    def commit(self, reserve_id: int) -> dict:
        now = datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        holds = self._batch_get("holds", {"reserve_id": {"N": str(reserve_id)}})
        hold = holds[0]
        if hold["status"]["S"] != "pending" or int(hold["expires_at_ms"]["N"]) <= now_ms:
            raise ValueError("hold not pending")
        account_id = hold["account_id"]["S"]
        account = self._batch_get("accounts", {"account_id": {"S": account_id}})[0]
        amount = int(hold["amount"]["N"])
        seq = int(account["posting_seq"]["N"]) + 1
        posted_ms = max(now_ms, int(account["last_posted_ms"]["N"]))
        bucket = str(int(hold["expires_at_ms"]["N"]) // 1000)
        balance_after = str(int(account["balance"]["N"]) + amount)
        day = datetime.fromtimestamp(posted_ms / 1000, JST).date().isoformat()
        posting = {
            "account_id": {"S": account_id},
            "seq": {"N": str(seq)},
            "amount": {"N": str(amount)},
            "balance_after": {"N": balance_after},
            "description": {"S": hold["description"]["S"]},
            "posted_at": {"S": _iso(now)},
            "posted_ms": {"N": str(posted_ms)},
            "reserve_id": {"N": str(reserve_id)},
        }
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.tables["postings"],
                        "Item": posting,
                        "ConditionExpression": "attribute_not_exists (#0)",
                        "ExpressionAttributeNames": {"#0": "seq"},
                    }
                },
                {
                    "Update": {
                        "TableName": self.tables["holds"],
                        "Key": {"reserve_id": {"N": str(reserve_id)}},
                        "UpdateExpression": "SET #0 = :2, #2 = :3",
                        "ConditionExpression": "(#0 = :0 AND #1 > :1)",
                        "ExpressionAttributeNames": {"#0": "status", "#1": "expires_at_ms", "#2": "resolved_at"},
                        "ExpressionAttributeValues": {
                            ":0": {"S": "pending"},
                            ":1": {"N": str(now_ms)},
                            ":2": {"S": "committed"},
                            ":3": {"S": _iso(now)},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self.tables["accounts"],
                        "Key": {"account_id": {"S": account_id}},
                        "UpdateExpression": "SET #1.#2 = #1.#2 - :2, #3 = :3, #4 = :4 ADD #5 :5",
                        "ConditionExpression": "((attribute_exists (#0) AND #1.#2 >= :0) AND #3 = :1)",
                        "ExpressionAttributeNames": {
                            "#0": "account_id",
                            "#1": "held",
                            "#2": bucket,
                            "#3": "posting_seq",
                            "#4": "last_posted_ms",
                            "#5": "balance",
                        },
                        "ExpressionAttributeValues": {
                            ":0": {"N": str(-amount)},
                            ":1": {"N": account["posting_seq"]["N"]},
                            ":2": {"N": str(-amount)},
                            ":3": {"N": str(seq)},
                            ":4": {"N": str(posted_ms)},
                            ":5": {"N": str(amount)},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self.tables["daily_balances"],
                        "Key": {"account_id": {"S": account_id}, "day": {"S": day}},
                        "UpdateExpression": "SET #0 = :0, #1 = :1, #2 = if_not_exists (#2, :2)",
                        "ExpressionAttributeNames": {"#0": "closing", "#1": "last_seq", "#2": "first_seq"},
                        "ExpressionAttributeValues": {
                            ":0": {"N": balance_after},
                            ":1": {"N": str(seq)},
                            ":2": {"N": str(seq)},
                        },
                    }
                },
            ],
            ReturnConsumedCapacity="TOTAL",
        )
        return {}

    def _batch_get(self, table: str, key: dict) -> list[dict]:
        name = self.tables[table]
        response = self.client.batch_get_item(
            RequestItems={name: {"Keys": [key], "ConsistentRead": True}}, ReturnConsumedCapacity="TOTAL"
        )
        return response["Responses"][name]
