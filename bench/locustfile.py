"""The mixed workload of `make load` (bench/load.py starts the server and runs this headless).

Per user, weighted: 70% previews (POST /api/v1/triage), 20% ticket creations (POST
/api/v1/tickets, each with a fresh Idempotency-Key, and one in five retried at once with the
same key and body, as a client does after a timeout), 10% reads and corrections (list, detail,
and an agent's PATCH of priority or category). Any answer other than the expected one is a
failure. Every ticket acknowledged with 201 (id and Idempotency-Key) and every replay is written
to $LOAD_ACK_FILE as JSON lines when the run stops, for load.py to check against the database.

Environment: LOAD_INTAKE_KEY, LOAD_AGENT_KEY, LOAD_ACK_FILE, LOAD_USER_RPS (requests per second
per user; the total is users x this).
"""

from __future__ import annotations

import json
import os
import random
import uuid

from locust import FastHttpUser, constant_throughput, events, task

INTAKE = {"X-API-Key": os.environ.get("LOAD_INTAKE_KEY", "")}
AGENT = {"X-API-Key": os.environ.get("LOAD_AGENT_KEY", "")}
PRIORITIES = ("urgent", "high", "medium", "low")
CATEGORIES = ("technical_support", "billing", "account_access", "product_question")
SUBJECTS = (
    ("Sistema fora do ar", "Ninguém da equipe consegue acessar o painel desde as 9h."),
    ("Cobrança em duplicidade", "Fui cobrado duas vezes no cartão pela mensalidade de março."),
    ("Esqueci minha senha", "O link de redefinição de senha não chega no meu e-mail."),
    ("How do I export a report?", "Hi, how can I export the monthly report to CSV?"),
    ("Feature idea: dark mode", "It would be great to have a dark mode in the dashboard."),
    ("Login error 500", "After the last update I get an error 500 when logging in."),
    ("Nota fiscal errada", "A nota fiscal de fevereiro saiu com o CNPJ errado, podem corrigir?"),
    ("Suspicious access", "We saw logins to our account from a country we never worked in."),
)
ACKED: list[dict] = []


def ticket_body() -> dict:
    subject, description = random.choice(SUBJECTS)
    body = {"subject": subject, "description": f"{description} (ref {uuid.uuid4().hex[:8]})"}
    if random.random() < 0.3:
        body["impact"] = random.choice(("individual", "team", "department", "organization"))
        body["stated_urgency"] = random.choice(("low", "medium", "high", "critical"))
    return body


class SupportClient(FastHttpUser):
    """A web form and an agent console sharing one connection."""

    wait_time = constant_throughput(float(os.environ.get("LOAD_USER_RPS", "10")))

    def on_start(self) -> None:
        self.tickets: list[int] = []

    @task(70)
    def preview(self) -> None:
        with self.client.post(
            "/api/v1/triage",
            json=ticket_body(),
            headers=INTAKE,
            name="POST /triage",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {response.text[:200]}")

    @task(20)
    def create(self) -> None:
        key = f"load-{uuid.uuid4().hex}"
        body = ticket_body()
        headers = {**INTAKE, "Idempotency-Key": key}
        first = self._create(body, headers, expect=201, name="POST /tickets")
        if first is None:
            return
        self.tickets.append(first)
        ACKED.append({"id": first, "key": key, "status": 201})
        if random.random() < 0.2:
            again = self._create(body, headers, expect=200, name="POST /tickets (retry)")
            if again is not None:
                ACKED.append({"id": again, "key": key, "status": 200})

    def _create(self, body: dict, headers: dict, *, expect: int, name: str) -> int | None:
        with self.client.post(
            "/api/v1/tickets", json=body, headers=headers, name=name, catch_response=True
        ) as response:
            if response.status_code != expect:
                response.failure(f"status {response.status_code}: {response.text[:200]}")
                return None
            return response.json()["id"]

    @task(4)
    def list_tickets(self) -> None:
        self._get("/api/v1/tickets?limit=20", "GET /tickets")

    @task(3)
    def show(self) -> None:
        if self.tickets:
            self._get(f"/api/v1/tickets/{random.choice(self.tickets)}", "GET /tickets/{id}")

    @task(3)
    def correct(self) -> None:
        if not self.tickets:
            return
        field, values = random.choice((("priority", PRIORITIES), ("category", CATEGORIES)))
        with self.client.request(
            "PATCH",
            f"/api/v1/tickets/{random.choice(self.tickets)}",
            json={field: random.choice(values), "reason": "load test correction"},
            headers=AGENT,
            name="PATCH /tickets/{id}",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {response.text[:200]}")

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, headers=AGENT, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {response.text[:200]}")


@events.test_stop.add_listener
def write_acknowledged(**_kwargs) -> None:
    path = os.environ.get("LOAD_ACK_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            for row in ACKED:
                fh.write(json.dumps(row) + "\n")
