"""Time the rules engine: 200 realistic rules over typical pt/en tickets, per ticket.

Run with `.venv/bin/python bench/rules.py`.
"""

from __future__ import annotations

import random
import statistics
import time

from triage.rules import TicketFacts, compile_ruleset, evaluate, load_default_rules

PRIORITIES = ["urgent", "high", "medium", "low"]
QUEUES = ["support", "billing", "accounts", "security", "customer_care", "triage"]
CATEGORIES = [
    "technical_support",
    "billing",
    "account_access",
    "security",
    "product_question",
    "feature_request",
]
TIERS = ["free", "standard", "premium", "enterprise"]
CHANNELS = ["email", "web", "phone", "chat", "api"]

PHRASES = (
    "fora do ar|sistema parado|indisponível|não carrega|erro 500|lentidão|travando|tela branca|"
    "cobrança em duplicidade|boleto vencido|nota fiscal|reembolso|estorno|cartão recusado|"
    "senha|login|acesso negado|conta bloqueada|autenticação|dois fatores|vazamento|invasão|"
    "como faço|dúvida|sugestão|nova funcionalidade|integração|api|webhook|relatório|exportar|"
    "outage|is down|not loading|slow|timeout|crash|error 502|blank page|duplicate charge|refund|"
    "invoice|payment declined|password|locked out|2fa|sso|data leak|phishing|how do i|"
    "feature request|suggestion|integration|export|dashboard|mobile app|android|ios|"
    "todos os usuários|toda a equipe|whole office|nobody can|cancelar assinatura|cancel plan"
).split("|")

SUBJECTS = [
    "O sistema está fora do ar desde as 9h",
    "Não consigo acessar minha conta",
    "Cobrança em duplicidade na fatura de março",
    "How do I export my reports to CSV?",
    "Dashboard not loading for the whole office",
    "Sugestão: modo escuro no aplicativo",
    "Payment declined but money left my account",
    "Erro ao gerar nota fiscal",
    "API returning 502 on /orders",
    "Dúvida sobre o plano enterprise",
]
FILLER = (
    "Bom dia, equipe. Desde ontem estamos com dificuldades e já tentamos limpar o cache, "
    "reiniciar o navegador e usar outro computador, sem sucesso. Hello team, we tried again this "
    "morning and the problem continues; our customers are asking for updates and we need an "
    "answer soon. Segue o número do pedido 48213 e o print da tela em anexo. Obrigado, Maria "
    "(financeiro). Please let us know if you need anything else from our side."
).split()


def make_rules(count: int, rng: random.Random) -> list[dict]:
    """Build `count` rules shaped like a busy team's: mostly keywords, some context and regex."""
    rules = [spec.model_dump() for spec in load_default_rules()]
    for index in range(len(rules), count):
        conditions: dict = {"keywords_any": rng.sample(PHRASES, rng.randint(2, 6))}
        kind = index % 10
        if kind == 1:
            conditions["tiers"] = rng.sample(TIERS, 2)
        elif kind == 2:
            conditions["predicted_priority"] = rng.sample(PRIORITIES, 2)
        elif kind == 3:
            conditions["keywords_none"] = rng.sample(PHRASES, 2)
        elif kind == 4:
            conditions = {"regex": rng.choice([r"erro\s+5\d\d", r"pedido\s+#?\d{4,}", r"sso|saml"])}
        elif kind == 5:
            conditions["channels"] = rng.sample(CHANNELS, 2)
            conditions["fields"] = "subject"
        elif kind == 6:
            conditions = {"keywords_all": rng.sample(PHRASES, 2)}
        actions: dict = {"add_tags": [f"tag{index % 37}"]}
        if kind in (0, 7):
            actions["set_priority"] = rng.choice(PRIORITIES)
        elif kind == 8:
            actions["raise_priority"] = 1
        elif kind == 9:
            actions["set_queue"] = rng.choice(QUEUES)
        rules.append(
            {
                "name": f"rule-{index}",
                "position": rng.randint(1, 1000),
                "conditions": conditions,
                "actions": actions,
            }
        )
    return rules


def make_tickets(count: int, rng: random.Random) -> list[TicketFacts]:
    """Build tickets with a short subject and a description of 60 to 120 words."""
    return [
        TicketFacts(
            subject=rng.choice(SUBJECTS),
            description=" ".join(rng.choices(FILLER, k=rng.randint(60, 120))),
            customer=rng.choice(["ACME Ltda", "Globex", None]),
            tier=rng.choice(TIERS),
            channel=rng.choice(CHANNELS),
            stated_urgency=rng.choice(["low", "medium", "high", "critical"]),
            impact=rng.choice(["individual", "team", "department", "organization"]),
            predicted={
                "priority": (rng.choice(PRIORITIES), rng.random()),
                "category": (rng.choice(CATEGORIES), rng.random()),
            },
        )
        for _ in range(count)
    ]


def main() -> None:
    rng = random.Random(7)
    specs = make_rules(200, rng)
    started = time.perf_counter()
    ruleset = compile_ruleset(specs, priorities=PRIORITIES, queues=QUEUES, categories=CATEGORIES)
    compile_ms = (time.perf_counter() - started) * 1000
    tickets = make_tickets(500, rng)
    for facts in tickets[:50]:  # warm up
        evaluate(ruleset, facts, base_priority="medium")
    rounds = []
    fired = 0
    for _ in range(5):
        started = time.perf_counter()
        for facts in tickets:
            fired += len(evaluate(ruleset, facts, base_priority="medium").fired)
        rounds.append((time.perf_counter() - started) / len(tickets) * 1e6)
    print(f"rules: {len(ruleset.rules)}; compile: {compile_ms:.1f} ms")
    print(f"rules fired per ticket: {fired / (5 * len(tickets)):.1f}")
    print(
        f"time per ticket: median {statistics.median(rounds):.0f} us, "
        f"best {min(rounds):.0f} us, worst {max(rounds):.0f} us"
    )


if __name__ == "__main__":
    main()
