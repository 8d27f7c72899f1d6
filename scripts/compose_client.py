"""The compose test's client: drives a running stack through its published port with boto3.

    compose_client.py smoke  ENDPOINT STATE      create, get, update, list, idempotent retry; writes STATE
    compose_client.py verify ENDPOINT STATE      the user in STATE is still there, as it was left
    compose_client.py absent ENDPOINT STATE      the user in STATE is not there (restored away)
    compose_client.py load   ENDPOINT SECONDS OUT  creates users from 4 threads; OUT gets every acknowledged id
    compose_client.py count  ENDPOINT IDS        every id in IDS answers GetUser

Credentials come from AWS_SHARED_CREDENTIALS_FILE / AWS_PROFILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
Any failed check raises, and the process exits non-zero.
"""

import json
import sys
import threading
import time
import uuid

import boto3
from botocore.config import Config


def client(endpoint):
    config = Config(retries={"mode": "standard", "max_attempts": 6}, connect_timeout=3, read_timeout=10)
    return boto3.Session(region_name="us-east-1").client("finspace-data", endpoint_url=endpoint, config=config)


def expect(condition, what):
    if not condition:
        raise SystemExit(f"compose test: {what}")


def smoke(endpoint, state_file):
    c = client(endpoint)
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    token = str(uuid.uuid4())
    user_id = c.create_user(emailAddress=email, type="SUPER_USER", firstName="Ada", clientToken=token)["userId"]
    again = c.create_user(emailAddress=email, type="SUPER_USER", firstName="Ada", clientToken=token)["userId"]
    expect(again == user_id, f"retry with the same clientToken gave {again}, not {user_id}")
    try:
        c.create_user(emailAddress=email.upper(), type="APP_USER")
        raise SystemExit("compose test: a second user with the same email was accepted")
    except c.exceptions.ConflictException:
        pass
    c.update_user(userId=user_id, lastName="Lovelace")
    deadline = time.time() + 15
    while (user := c.get_user(userId=user_id))["status"] != "ENABLED":
        expect(time.time() < deadline, f"user stayed {user['status']}")
        time.sleep(0.2)
    expect(user["lastName"] == "Lovelace" and user["emailAddress"] == email, f"GetUser answered {user}")
    listed = [u["userId"] for page in c.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 100})
              for u in page["users"]]
    expect(user_id in listed, "ListUsers does not list the new user")
    with open(state_file, "w") as out:
        json.dump({"userId": user_id, "emailAddress": email, "lastName": "Lovelace",
                   "createTime": user["createTime"]}, out)
    print(f"smoke: created {user_id} ({email}), retried with its clientToken, updated, listed")


def verify(endpoint, state_file):
    state = json.load(open(state_file))
    user = client(endpoint).get_user(userId=state["userId"])
    for field in ("emailAddress", "lastName", "createTime"):
        expect(user[field] == state[field], f"after the restart {field} is {user[field]!r}, was {state[field]!r}")
    expect(user["status"] == "ENABLED", f"after the restart the user is {user['status']}")
    print(f"verify: {state['userId']} survived, unchanged")


def absent(endpoint, state_file):
    state = json.load(open(state_file))
    c = client(endpoint)
    try:
        c.get_user(userId=state["userId"])
    except c.exceptions.ResourceNotFoundException:
        print(f"absent: {state['userId']} is not there, as expected")
        return
    raise SystemExit(f"compose test: {state['userId']} should not be there")


def load(endpoint, seconds, out_file):
    acknowledged, failures, lock = [], [], threading.Lock()
    stop_at = time.time() + seconds

    def work(n):
        c = client(endpoint)
        i = 0
        while time.time() < stop_at:
            i += 1
            try:
                user_id = c.create_user(emailAddress=f"load-{n}-{i}-{uuid.uuid4().hex[:6]}@example.com",
                                        type="APP_USER", clientToken=str(uuid.uuid4()))["userId"]
                with lock:
                    acknowledged.append((time.time(), user_id))
            except Exception as error:  # every failure is counted and reported
                with lock:
                    failures.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out_file, "w") as out:
        json.dump([user_id for _, user_id in acknowledged], out)
    times = sorted(t for t, _ in acknowledged)
    gaps = [b - a for a, b in zip(times, times[1:])] or [0]
    print(f"load: {len(acknowledged)} creates acknowledged in {seconds}s, {len(failures)} failed, "
          f"longest gap between acknowledgements {max(gaps):.2f}s")
    for failure in failures[:5]:
        print(f"  failure: {failure}")
    expect(not failures, f"{len(failures)} calls failed through the proxy")
    expect(len(acknowledged) > 0, "no create was acknowledged")


def count(endpoint, ids_file):
    ids = json.load(open(ids_file))
    c = client(endpoint)
    missing = []
    for user_id in ids:
        try:
            c.get_user(userId=user_id)
        except c.exceptions.ResourceNotFoundException:
            missing.append(user_id)
    expect(not missing, f"{len(missing)} acknowledged users are missing, e.g. {missing[:3]}")
    print(f"count: all {len(ids)} acknowledged users are there")


if __name__ == "__main__":
    command, endpoint, *rest = sys.argv[1:]
    {"smoke": lambda: smoke(endpoint, rest[0]),
     "verify": lambda: verify(endpoint, rest[0]),
     "absent": lambda: absent(endpoint, rest[0]),
     "load": lambda: load(endpoint, float(rest[0]), rest[1]),
     "count": lambda: count(endpoint, rest[0])}[command]()
