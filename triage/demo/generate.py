"""Write the SYNTHETIC bilingual support tickets that the demo model trains on at first run.

Every row is invented: the companies, people, e-mail addresses (all under the reserved
``.example`` domain), amounts and error codes are made up, and no real ticket was copied. The set
exists so that ``make run`` can fit a model in seconds, so that demos have plausible traffic in
Brazilian Portuguese and English, and so that tests have data; it is not evidence of how well the
model does on real tickets.

Texts are composed from templates per category and per priority driver, following support
practice: outages, breaches, payment failures and many users affected are urgent or high; a bug
for some users or a workaround is medium; questions, suggestions and typos on a page are low.
Greetings, time expressions, error codes, missing accents, typos and shouting are mixed in.
Customers over-state their urgency, and about 5% of the labels are moved to a neighbouring value,
as annotators disagree in practice.
The output depends only on the seed:

    python -m triage.demo.generate --seed 20261123 --rows 4000 --out triage/demo/tickets.csv
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_SEED = 20261123
DEFAULT_ROWS = 4000
DEFAULT_OUT = Path(__file__).with_name("tickets.csv")

COLUMNS = (
    "subject",
    "description",
    "requester",
    "customer",
    "customer_tier",
    "channel",
    "language",
    "stated_urgency",
    "impact",
    "priority",
    "category",
)
CATEGORIES = (
    "technical_support",
    "billing",
    "account_access",
    "security",
    "product_question",
    "feature_request",
)
PRIORITIES = ("urgent", "high", "medium", "low")
URGENCIES = ("low", "medium", "high", "critical")
IMPACTS = ("individual", "team", "department", "organization")
CHANNELS = ("email", "web", "phone", "chat", "api")

LABEL_NOISE = 0.05
VAGUE = 0.04  # tickets whose text says little ("It doesn't work."), as some real ones do
# Where annotators plausibly disagree: a lockout filed as security, a how-to seen as a request...
NEIGHBOUR_CATEGORIES = {
    "technical_support": ("product_question", "account_access"),
    "billing": ("account_access", "product_question"),
    "account_access": ("security", "technical_support"),
    "security": ("account_access", "technical_support"),
    "product_question": ("feature_request", "technical_support", "billing"),
    "feature_request": ("product_question",),
}


def _lines(text: str) -> tuple[str, ...]:
    """Split a block of templates, one per line."""
    return tuple(line.strip() for line in text.strip().splitlines() if line.strip())


def _bodies(text: str) -> tuple[tuple[tuple[str, ...], str], ...]:
    """Split a block of bodies, each with the subjects written just for it ("a || b =>")."""
    bodies = []
    own: tuple[str, ...] = ()
    for line in _lines(text):
        if line.endswith("=>"):
            own = tuple(part.strip() for part in line[:-2].split("||"))
        else:
            bodies.append((own, line))
            own = ()
    return tuple(bodies)


@dataclass(frozen=True)
class Driver:
    """What a ticket is about and how it usually ends up prioritised."""

    name: str
    category: str
    weight: float
    priority: tuple[float, float, float, float]  # urgent, high, medium, low
    problem: bool  # something broke (True) or a question or request (False)
    details: tuple[str, ...]
    subjects: dict[str, tuple[str, ...]]  # fit any body of the driver
    bodies: dict[str, tuple[tuple[tuple[str, ...], str], ...]]  # (own subjects, body)
    impact: tuple[float, float, float, float] | None = None  # overrides the one by priority


def _driver(
    name: str,
    category: str,
    weight: float,
    priority: tuple[float, float, float, float],
    problem: bool,
    details: tuple[str, ...],
    pt_s: str,
    pt_b: str,
    en_s: str,
    en_b: str,
    impact: tuple[float, float, float, float] | None = None,
) -> Driver:
    """Build a driver from its settings and its per-language blocks of subjects and bodies."""
    return Driver(
        name,
        category,
        weight,
        priority,
        problem,
        details,
        {"pt": _lines(pt_s), "en": _lines(en_s)},
        {"pt": _bodies(pt_b), "en": _bodies(en_b)},
        impact,
    )


# fmt: off
# The tables below are data, laid out by hand for reading; ruff format leaves them alone.
TECH = ("since", "code", "env", "tried", "attach")
# Per language: subjects that fit every body of the driver, then the bodies. A line ending in
# "=>" holds subjects written for the body on the next line ("a || b =>"), used most of the time.
DRIVERS = (
    _driver("outage", "technical_support", 0.075, (0.72, 0.25, 0.03, 0.0), True, TECH, """
        Sistema fora do ar
        {area} fora do ar
        URGENTE {area} fora do ar
        {area} indisponível
        Serviço fora do ar?
        Fora do ar de novo
        Tudo parado aqui
    """, """
        {o_area} está fora do ar {since}.
        Ninguém consegue acessar {o_area}, está tudo fora do ar.
        Plataforma indisponível || {area} indisponível =>
        {o_area} está indisponível {since} e não conseguimos trabalhar.
        Sistema parado || Sistema não carrega =>
        O sistema está parado {since}. Não carrega nenhuma tela.
        {area} não abre - erro {code} || Sem acesso {ao_area} =>
        Estamos sem acesso {ao_area} {since}, aparece {code} para todo mundo.
        Caiu de novo || Queda {no_area} =>
        {o_area} caiu de novo. Está fora do ar e a operação está parada.
        Tela branca, sistema fora do ar =>
        A plataforma não carrega, só fica a tela branca. Fora do ar {since}.
        Parou tudo || {area} não responde =>
        Simplesmente parou tudo. {o_area} não responde e dá {code}.
        {area} {parado} || Nenhum pedido entrando =>
        {o_area} está {parado}, nenhum pedido entra {since}.
        O site de vocês caiu? || Site fora do ar =>
        O site de vocês está fora do ar? Aqui não abre nada.
        Loja parada || Serviço indisponível =>
        Serviço indisponível {no_area}. Loja parada, clientes reclamando.
    """, """
        System down
        {area} is down
        URGENT: {area} down
        {area} not loading
        Service unavailable
        Platform outage
        Everything is down
    """, """
        {area} down {since} || Nobody can get in =>
        {the_area} is down {since}. Nobody can get in.
        Full outage || {area} outage =>
        We are seeing a full outage of {the_area} {since}.
        Blank page, {area} not loading || {code} on {area} =>
        {the_area} is not loading at all, just a blank page and {code}.
        Nothing works =>
        Nothing works. {the_area} has been down {since} and our operation is stopped.
        Is there an outage? || {area} outage, error {code} =>
        Is there an outage? {the_area} keeps returning {code}.
        {area} down again =>
        {the_area} went down again, we cannot process anything.
        Operation stopped || {area} down =>
        Our whole operation depends on {the_area} and it is down.
        Complete outage on our side: {the_area} has been unavailable {since}.
        Is the service down? =>
        The app is not loading for anyone here, looks like a service outage.
        {area} unreachable || Getting {code} =>
        {the_area} has been unreachable {since}. Getting {code} every time.
        Store down || Customers calling, {area} unavailable =>
        Store is down, customers are calling us. {the_area} unavailable.
    """, impact=(0.04, 0.14, 0.3, 0.52)),
    _driver("many_users", "technical_support", 0.045, (0.35, 0.55, 0.1, 0.0), True, TECH, """
        Problema geral {no_area}
        Erro generalizado {no_area}
        Falha {no_area} afetando a empresa toda
        {area} travando para todos
    """, """
        Todos os usuários com erro || Erro {code} para todos =>
        Todos os usuários estão recebendo {code} ao abrir {o_area}.
        Equipe de {dept} sem conseguir usar {o_area} =>
        Toda a equipe de {dept} está sem conseguir usar {o_area} {since}.
        Servidor não responde =>
        O servidor não responde e todos os usuários foram afetados.
        {area} trava para todo mundo || Equipe toda parada =>
        {o_area} trava para todo mundo aqui, toda a equipe está parada.
        Filial sem {area} =>
        Nenhum dos {n} usuários da filial consegue usar {o_area}.
        Erro após atualização || {area} parou depois da atualização =>
        Depois da atualização, {o_area} parou para todos os usuários. Erro: {code}.
        Falha no sistema principal =>
        O sistema principal falhou e todos os usuários estão sem trabalhar.
        Falha de sincronização || {dept} sem dados =>
        A sincronização com o servidor falhou e toda a equipe de {dept} está sem dados {since}.
    """, """
        {area} failing for everyone
        All users affected - {area}
        Widespread errors in {area}
        {area} crashing for all users
    """, """
        Everyone getting {code} =>
        All users are getting {code} when they open {the_area}.
        The whole office can't use {area} =>
        The whole office has been unable to use {the_area} {since}.
        Server not responding =>
        Our server stopped responding and every user is affected.
        {area} broken for the entire {dept} team =>
        {the_area} crashes for everyone here, the whole {dept} team is blocked.
        Branch can't use {area} =>
        None of our {n} users at the branch can use {the_area}.
        {area} broken after update =>
        After the last update {the_area} stopped working for all users. Error: {code}.
        Core system failure =>
        The core system failed and the whole office is stuck.
        {dept} lost access to {area} =>
        Everybody in {dept} has had no access to {the_area} {since}.
    """, impact=(0.0, 0.22, 0.4, 0.38)),
    _driver("bug_some", "technical_support", 0.07, (0.02, 0.12, 0.74, 0.12), True, TECH, """
        Erro {no_area} para alguns usuários
        Bug {no_area}
        {area} com comportamento estranho
        Problema {no_area}
    """, """
        {area} dando erro às vezes || Erro {code} {no_area} =>
        Alguns usuários estão vendo {code} ao usar {o_area}, outros não.
        Erro ao salvar {no_area} =>
        Dois colegas não conseguem salvar {no_area}, para o resto funciona.
        Dados errados {no_area} =>
        {o_area} mostra dados errados para alguns clientes.
        Erro ao filtrar por data =>
        Quando filtramos por data {no_area} aparece {code}. Só acontece com alguns usuários.
        {area} não funciona no {browser} =>
        No {browser} {o_area} dá erro, no {browser2} funciona.
        Exportação vazia {no_area} =>
        Ao exportar {do_area} o arquivo vem vazio para alguns usuários.
        {area} não salva alterações =>
        {o_area} às vezes não salva as alterações. Já aconteceu com {n} pessoas aqui.
        Usuário com erro {code} =>
        Um dos nossos usuários recebe {code} sempre que tenta abrir {o_area}.
        Totais não batem {no_area} =>
        Os totais {do_area} não batem para algumas filiais.
    """, """
        Bug in {area}
        {area} error for some users
        Intermittent bug in {area}
        Issue with {area}
    """, """
        {code} for some users =>
        Some of our users get {code} in {the_area}, others are fine.
        Some users can't save in {area} =>
        Two colleagues cannot save changes in {the_area}, it works for everyone else.
        {area} showing wrong data =>
        {the_area} shows the wrong totals for a few of our accounts.
        Date filter error =>
        When filtering by date in {the_area} we get {code}. Only happens for some users.
        Issue with {area} on {browser} =>
        In {browser} {the_area} throws an error, in {browser2} it works.
        Error when exporting from {area} =>
        Exporting from {the_area} gives an empty file for a couple of users.
        {area} not saving changes =>
        {the_area} sometimes doesn't save changes. It happened to {n} people here so far.
        User gets {code} =>
        One of our users gets {code} every time she opens {the_area}.
        Wrong totals in {area} =>
        Numbers in {the_area} don't add up for some of our branches.
    """),
    _driver("degraded", "technical_support", 0.06, (0.02, 0.15, 0.68, 0.15), True, TECH, """
        Lentidão {no_area}
        {area} instável
        Sistema lento hoje
        {area} com lentidão
    """, """
        {area} muito {lento} || {area} demorando para carregar =>
        {o_area} está muito {lento} {since}, cada tela demora mais de {sec} segundos.
        Timeout {no_area} =>
        Está funcionando, mas bem {lento}. Às vezes dá timeout.
        Quedas intermitentes {no_area} =>
        {o_area} está instável: funciona, cai a conexão, volta.
        Relatórios demorando =>
        Os relatórios estão demorando uns {m} minutos para gerar, antes era rápido.
        Sincronização atrasada =>
        A sincronização está atrasando {since}, os pedidos aparecem com horas de atraso.
        Notificações atrasadas =>
        {o_area} funciona, mas as notificações estão chegando atrasadas.
        {o_area} está {lento} {since}. Dá para usar, mas está difícil.
    """, """
        Slowness in {area}
        {area} is unstable
        Performance issues today
        {area} sluggish
    """, """
        {area} very slow || {area} taking forever to load =>
        {the_area} has been very slow {since}, every page takes more than {sec} seconds.
        Intermittent timeouts in {area} =>
        It works, but it is really slow. Sometimes we get a timeout.
        {area} keeps dropping =>
        {the_area} is flaky: it works, drops the connection, then comes back.
        Reports very slow =>
        Reports now take about {m} minutes to generate, they used to be instant.
        Sync lagging =>
        Sync has been lagging {since}, orders show up hours late.
        Delayed notifications =>
        {the_area} works but notifications arrive late.
        {the_area} has been getting slower {since}. Still usable, but painful.
    """),
    _driver("workaround", "technical_support", 0.04, (0.0, 0.08, 0.7, 0.22), True, TECH, """
        Erro {no_area}, mas achamos um jeito de contornar
        {area} com problema (temos alternativa)
        Problema {no_area}
    """, """
        Botão de exportar não funciona =>
        O botão de exportar {do_area} não funciona, mas conseguimos copiar os dados manualmente.
        Falha ao importar arquivo =>
        Quando importo a planilha dá {code}. Se eu dividir em arquivos menores funciona.
        {area} não abre no {browser} =>
        {o_area} não abre no {browser}, estamos usando o {browser2} enquanto isso.
        Impressão cortada =>
        A impressão do relatório sai cortada. Estamos salvando em PDF como alternativa.
        Filtro quebrado {no_area} =>
        O filtro {do_area} não funciona, mas dá para buscar pelo código.
        Anexo pelo app não funciona =>
        Pelo app não dá para anexar arquivos, só pelo computador. Dá para ir levando.
    """, """
        {area} issue, workaround in place
        Problem with {area} (we have a workaround)
        Issue in {area}
    """, """
        Export button not working in {area} =>
        The export button in {the_area} doesn't work, but we can copy the data by hand for now.
        Import fails for large files =>
        Importing the spreadsheet gives {code}. Splitting it into smaller files works.
        {area} won't open in {browser} =>
        {the_area} won't open in {browser}, so we are using {browser2} in the meantime.
        Printed report cut off =>
        The printed report gets cut off. We are saving to PDF as a workaround.
        Broken filter in {area} =>
        The filter in {the_area} is broken, searching by ID still works though.
        Attachments from mobile app =>
        Can't attach files from the mobile app, only from the desktop. We can live with it.
    """),
    _driver("cosmetic", "technical_support", 0.03, (0.0, 0.0, 0.1, 0.9), True,
            ("env", "attach"), """
        Pequeno erro visual
        Detalhe na tela
    """, """
        Erro de digitação na {page} =>
        Na {page} está escrito {typo}.
        Erro de português na {page} || Texto errado na {page} =>
        Só um detalhe: tem um erro de português na {page}: {typo}.
        Botão desalinhado =>
        O botão de salvar fica desalinhado na {page} quando a janela é pequena.
        Tradução errada na tela =>
        Algumas palavras da {page} aparecem em inglês.
        Ícone quebrado {no_area} =>
        O ícone {do_area} aparece quebrado, mas tudo funciona normalmente.
        Logo cortado no e-mail =>
        O logo da empresa sai cortado no rodapé do e-mail de confirmação.
        Cor do texto difícil de ler =>
        A cor do texto na {page} fica difícil de ler no modo claro.
    """, """
        Small visual glitch
        Cosmetic issue
    """, """
        Typo on the {page} =>
        There's a typo on the {page}: {typo}.
        Wrong text on the {page} =>
        Minor thing: the {page} says {typo}.
        Misaligned button =>
        The save button is misaligned on the {page} when the window is narrow.
        Untranslated labels =>
        Some labels on the {page} are still in Portuguese.
        Broken icon in {area} =>
        The icon in {the_area} shows as broken, everything else works fine.
        Logo cut off in emails =>
        Our logo is cut off in the footer of the confirmation email.
        Hard to read text =>
        The text color on the {page} is hard to read in light mode.
    """),
    _driver("minor", "technical_support", 0.02, (0.0, 0.03, 0.27, 0.7), True, ("env", "tried"), """
        Pequeno problema
        Comportamento estranho, nada grave
    """, """
        Impressora não imprime =>
        A impressora do meu computador não está imprimindo, as outras estão normais.
        Notificação duplicada =>
        Recebo a mesma notificação duas vezes. Não atrapalha, só queria avisar.
        Ordenação errada na lista =>
        A lista de clientes não ordena por nome corretamente, dá para achar pela busca.
        App pede login de novo =>
        De vez em quando o app pede login de novo, mas é só entrar que funciona.
        Contador de mensagens =>
        O contador de mensagens não lidas não zera. Nada grave.
        Formato de data =>
        A data no relatório aparece no formato americano.
    """, """
        Minor issue
        Small glitch, nothing serious
    """, """
        Printer not printing =>
        The printer at my desk isn't printing, the other printers are fine.
        Duplicate notifications =>
        I get every notification twice. Not a big deal, just letting you know.
        Sorting is off in the list =>
        The customer list doesn't sort by name correctly, search still works.
        App logs me out =>
        Every now and then the app asks me to log in again, logging in fixes it.
        Unread counter =>
        The unread counter never resets to zero. Nothing serious.
        Date format in report =>
        Dates in the report show in US format instead of ours.
    """),
    _driver("payment_failure", "billing", 0.045, (0.5, 0.45, 0.05, 0.0), True,
            ("since", "ref"), """
        Problema com pagamento
        Falha no processamento de pagamentos
    """, """
        Pagamentos dos clientes sendo recusados || Checkout recusando cartões =>
        Todos os pagamentos com cartão estão sendo recusados no nosso checkout {since}.
        Cobrança em duplicidade || Fomos cobrados duas vezes =>
        Fomos cobrados em duplicidade este mês: {amount} duas vezes na fatura {invoice}.
        Cobrança duplicada no cartão =>
        Houve cobrança em duplicidade no cartão da empresa, valor de {amount}.
        Pagamento recusado || Clientes com pagamento recusado =>
        Nossos clientes estão com pagamento recusado ao finalizar a compra, erro {paycode}.
        Pagamento recusado e conta suspensa =>
        O pagamento da assinatura foi recusado e a conta foi suspensa, a equipe está sem acesso.
        Pix não confirma =>
        As transações Pix não estão sendo confirmadas {since}, os pedidos ficam pendentes.
        Gateway recusando transações =>
        O gateway está recusando todas as transações, estamos perdendo vendas.
        Cobrança em duplicidade (boleto e cartão) =>
        Paguei o boleto {invoice} e mesmo assim fomos cobrados de novo no cartão.
    """, """
        Payment problem
        Payment processing failure
    """, """
        Customers' payments failing at checkout || Card transactions declined =>
        All card payments have been declined at our checkout {since}.
        Double charged this month =>
        We were double charged this month: {amount} twice on invoice {invoice}.
        Duplicate charge on our card =>
        There's a duplicate charge of {amount} on the company card.
        Payment declined =>
        Our customers get payment declined at checkout, error {paycode}.
        Payment declined, account suspended =>
        Our subscription payment was declined and the account got suspended, the team is stuck.
        Gateway rejecting transactions =>
        The payment gateway is rejecting every transaction, we are losing sales.
        Transactions stuck pending =>
        Transactions have been stuck pending {since} and never get confirmed.
        Charged twice for invoice {invoice} =>
        I paid invoice {invoice} by bank transfer and you also charged the card.
    """),
    _driver("wrong_charge", "billing", 0.04, (0.0, 0.25, 0.6, 0.15), True, ("ref",), """
        Cobrança indevida
        Problema na fatura
    """, """
        Valor errado na fatura || Fatura com valor diferente do contratado =>
        A fatura {invoice} veio com {amount}, mas nosso contrato é de valor menor.
        Cobrança de usuários a mais =>
        Fomos cobrados por {n} usuários, mas temos só {n2} ativos.
        Desconto não aplicado =>
        O desconto combinado com o comercial não foi aplicado na fatura deste mês.
        Cobrança desconhecida =>
        Apareceu uma cobrança de {amount} que não reconhecemos na fatura.
        Reajuste sem aviso =>
        O valor do plano {plan} aumentou sem aviso.
        Nota fiscal com dados errados =>
        A nota fiscal saiu com o CNPJ errado e o financeiro não consegue lançar.
    """, """
        Unexpected charge
        Invoice problem
    """, """
        Wrong amount on invoice || Invoice doesn't match our contract =>
        Invoice {invoice} shows {amount}, but our contract price is lower.
        Billed for too many seats =>
        We were billed for {n} seats but only have {n2} active users.
        Discount not applied =>
        The discount agreed with sales was not applied this month.
        Unknown charge =>
        There's a charge of {amount} we don't recognize on the invoice.
        Price increase without notice =>
        The price of the {plan} plan went up without notice.
        Wrong details on invoice =>
        The invoice has the wrong tax ID and our accounting can't book it.
    """),
    _driver("invoice_request", "billing", 0.05, (0.0, 0.02, 0.15, 0.83), False, ("ref",), """
        Solicitação - financeiro
        Dúvida sobre cobrança
    """, """
        Segunda via do boleto =>
        Poderiam enviar a segunda via do boleto {invoice}?
        Nota fiscal de {month} || Solicitação de nota fiscal =>
        Preciso da nota fiscal referente a {month}.
        Envio da fatura para outro e-mail =>
        Gostaria de alterar o e-mail que recebe as faturas para financeiro@{domain}.
        Boleto vencido =>
        O boleto venceu ontem, consigo pagar com juros ou precisa emitir outro?
        Alterar dados de cobrança =>
        Por favor atualizem o endereço de cobrança, mudamos de sede.
        Notas fiscais dos últimos meses =>
        Podem mandar as notas fiscais dos últimos {k} meses? O contador pediu.
        Forma de pagamento =>
        Como faço para trocar a forma de pagamento de boleto para cartão?
    """, """
        Billing request
        Billing question
    """, """
        Copy of invoice {invoice} =>
        Could you send me a copy of invoice {invoice}?
        Invoice for {month} =>
        I need the invoice for {month} for our records.
        Send invoices to a different email =>
        Please send future invoices to billing@{domain}.
        Update billing details =>
        We moved offices, please update our billing address.
        Receipt request =>
        Can you send receipts for the last {k} months? Our accountant asked.
        Change payment method =>
        How do I switch from bank transfer to credit card payment?
        VAT number on invoices =>
        Please add our VAT number to the next invoices.
    """),
    _driver("refund", "billing", 0.02, (0.0, 0.1, 0.5, 0.4), False, ("ref",), """
        Pedido de reembolso
        Estorno de cobrança
    """, """
        Reembolso proporcional =>
        Cancelamos o plano {plan} há {k} dias e gostaríamos do reembolso proporcional.
        Cobrança após cancelamento =>
        Solicito o estorno da cobrança de {amount}, feita depois do cancelamento.
        Reembolso do plano anual =>
        Contratamos por engano o plano anual, dá para estornar e mudar para o mensal?
        Estorno pendente =>
        Ainda não recebemos o estorno prometido no chamado anterior.
    """, """
        Refund request
        Refund
    """, """
        Prorated refund =>
        We cancelled the {plan} plan {k} days ago and would like a prorated refund.
        Charge after cancellation =>
        Please refund the {amount} charge made after we cancelled.
        Refund for annual plan =>
        We bought the annual plan by mistake, can we get a refund and switch to monthly?
        Still waiting for refund =>
        We still haven't received the refund promised in the previous ticket.
    """),
    _driver("plan_change", "billing", 0.025, (0.0, 0.0, 0.1, 0.9), False, ("context",), """
        Mudança de plano
        Assinatura
    """, """
        Upgrade para o plano {plan} =>
        Gostaríamos de mudar para o plano {plan} a partir do próximo mês.
        Adicionar mais licenças =>
        Quanto custa adicionar mais {n} licenças?
        Cancelar assinatura =>
        Queremos cancelar a assinatura no fim do contrato. Qual o procedimento?
        Downgrade de plano =>
        Dá para reduzir o número de usuários na próxima renovação?
        Plano anual =>
        Tenho interesse no plano anual, tem desconto?
    """, """
        Plan change
        Subscription
    """, """
        Upgrade to {plan} =>
        We'd like to move to the {plan} plan starting next month.
        Add more seats =>
        How much would {n} more seats cost?
        Cancel subscription =>
        We want to cancel at the end of the contract. What's the process?
        Downgrade at renewal =>
        Can we reduce the number of users at the next renewal?
        Annual billing =>
        Is there a discount for paying annually?
    """),
    _driver("team_locked", "account_access", 0.03, (0.4, 0.55, 0.05, 0.0), True,
            ("since", "code", "tried"), """
        Sem acesso para toda a equipe
        Usuários bloqueados em massa
    """, """
        Ninguém consegue fazer login =>
        Ninguém da empresa consegue fazer login {since}. Dá {code}.
        Toda a equipe bloqueada =>
        Toda a equipe de {dept} foi bloqueada ao mesmo tempo e não consegue entrar.
        SSO fora do ar =>
        O login via SSO está fora do ar, todos os usuários ficam presos na tela de autenticação.
        Todos bloqueados após troca de senha =>
        Depois da troca de senha obrigatória, todos os usuários ficaram bloqueados.
        Login com Microsoft não funciona para ninguém =>
        O login único com a conta Microsoft parou, toda a equipe está sem acesso.
        Conta da empresa suspensa =>
        A conta da empresa foi suspensa e todos os {n} usuários perderam o acesso.
    """, """
        Entire team locked out
        Mass account lockout
    """, """
        Nobody can log in =>
        Nobody in the company has been able to log in {since}. We get {code}.
        {dept} team locked out =>
        The whole {dept} team got locked out at the same time.
        SSO down =>
        SSO is down, every user is stuck on the authentication screen.
        Everyone locked out after password reset =>
        After the forced password reset, all users are locked out.
        Microsoft sign-in failing for everyone || Whole office locked out =>
        Single sign-on with Microsoft stopped working and the whole office has no access.
        Company account suspended =>
        Our company account was suspended and all {n} users lost access.
    """, impact=(0.0, 0.25, 0.4, 0.35)),
    _driver("user_locked", "account_access", 0.05, (0.02, 0.2, 0.58, 0.2), True,
            ("since", "user", "tried"), """
        Não consigo acessar minha conta
        Problema de acesso
    """, """
        Conta bloqueada após tentativas || Usuário bloqueado =>
        Minha conta foi bloqueada depois de errar a senha e não consigo entrar.
        Perdi o celular do 2FA =>
        Troquei de celular e perdi o código de autenticação em dois fatores.
        Login não aceita a senha =>
        O usuário {email} não consegue fazer login, diz que a senha está errada.
        Acesso expirado =>
        Meu acesso expirou e preciso entrar para fechar o mês.
        Usuário inativo =>
        Não consigo acessar minha conta, aparece "usuário inativo".
        Conta bloqueada após férias =>
        Uma colaboradora voltou de férias e a conta dela está bloqueada.
    """, """
        Can't access my account
        Access problem
    """, """
        Account locked after failed attempts || User locked out =>
        My account got locked after a few wrong passwords and I can't get in.
        Lost my 2FA phone =>
        I changed phones and lost my two-factor codes.
        Password not accepted =>
        User {email} can't log in, it says the password is wrong.
        Access expired =>
        My access expired and I need to get in to close the month.
        "User inactive" error =>
        I can't access my account, it says "user inactive".
        Account locked after vacation =>
        A colleague is back from vacation and her account is locked.
    """),
    _driver("password_reset", "account_access", 0.045, (0.0, 0.05, 0.35, 0.6), False,
            ("user",), """
        Redefinição de senha
        Senha
    """, """
        Esqueci minha senha =>
        Esqueci minha senha, podem me ajudar a redefinir?
        E-mail de recuperação de senha não chega =>
        Pedi para redefinir a senha mas o e-mail não chegou, já olhei o spam.
        Link de redefinir senha expirado =>
        O link de redefinição de senha diz que expirou.
        Trocar senha =>
        Como faço para trocar minha senha?
        Senha do administrador =>
        Não lembro a senha do usuário administrador.
    """, """
        Password reset
        Password
    """, """
        Forgot my password =>
        I forgot my password, can you help me reset it?
        Reset email not arriving =>
        I requested a password reset but the email never arrived, checked spam too.
        Reset link expired =>
        The password reset link says it has expired.
        Change password =>
        How do I change my password?
        Admin password =>
        I don't remember the password of the admin user.
    """),
    _driver("account_change", "account_access", 0.035, (0.0, 0.02, 0.13, 0.85), False,
            ("user", "context"), """
        Alteração de cadastro
        Usuários da conta
    """, """
        Alterar e-mail de acesso =>
        Gostaria de alterar o e-mail de login para {email}.
        Incluir novo usuário =>
        Por favor incluam o novo colaborador de {dept} na nossa conta.
        Remover usuário desligado =>
        O {first} saiu da empresa, podem desativar o usuário?
        Trocar administrador da conta =>
        Queremos transferir a administração da conta para outra pessoa.
        Mudar nome de exibição =>
        Como altero meu nome de exibição?
        Permissão de administrador =>
        Preciso dar permissão de administrador para um colega.
    """, """
        Account change
        Users on our account
    """, """
        Change login email =>
        I'd like to change my login email to {email}.
        Add a new user =>
        Please add our new hire in {dept} to our account.
        Remove a former employee =>
        {first} left the company, can you deactivate their user?
        Change account owner =>
        We want to transfer account ownership to someone else.
        Update display name =>
        How do I change my display name?
        Admin rights for a colleague =>
        I need to give admin rights to a colleague.
    """),
    _driver("breach", "security", 0.025, (0.8, 0.18, 0.02, 0.0), True, ("since", "attach"), """
        Incidente de segurança
        Violação de segurança
    """, """
        Possível vazamento de dados =>
        Identificamos um possível vazamento: dados dos nossos clientes apareceram num fórum.
        Invasão na nossa conta || Conta hackeada =>
        Nossa conta foi invadida, alguém alterou os dados bancários e os e-mails dos admins.
        Dados de clientes expostos =>
        Houve uma violação de segurança: um usuário desconhecido exportou toda a base de clientes.
        Vazamento de dados de clientes =>
        Recebemos e-mails de clientes dizendo que os dados deles vazaram.
        Acesso não autorizado =>
        Alguém acessou a conta de admin de outro país e apagou registros.
        Suspeita de invasão =>
        Suspeita de invasão: o log mostra acessos de IPs estranhos e downloads em massa.
        Token da API vazado =>
        Um token da API vazou num repositório público, precisamos revogar agora.
    """, """
        Security incident
        Security breach
    """, """
        Possible data leak =>
        We found a possible data leak: our customers' details showed up on a forum.
        Our account was hacked =>
        Our account was hacked, someone changed the bank details and the admin emails.
        Customer data exposed =>
        Security breach: an unknown user exported our entire customer base.
        Customer data leaked =>
        Customers are emailing us saying their data was leaked.
        Unauthorized access to our data =>
        Someone logged into the admin account from another country and deleted records.
        Suspected intrusion =>
        Suspected intrusion: the audit log shows strange IPs and bulk downloads.
        Leaked API key =>
        An API token was leaked in a public repository, we need it revoked now.
    """, impact=(0.05, 0.15, 0.25, 0.55)),
    _driver("suspicious", "security", 0.025, (0.15, 0.55, 0.27, 0.03), True,
            ("since", "user"), """
        Alerta de segurança
        Atividade suspeita
    """, """
        Login suspeito || Alerta de login de local desconhecido =>
        Recebi um alerta de login de um local que não reconheço.
        E-mail de phishing com a marca de vocês =>
        Alguns colaboradores receberam um e-mail de phishing usando o logo de vocês pedindo senha.
        Acessos estranhos na conta =>
        Vi sessões ativas no meu usuário que não são minhas.
        Usuário clicou em link suspeito =>
        Um colega clicou num link suspeito e digitou a senha. O que fazemos?
        Dispositivo desconhecido =>
        Apareceu um dispositivo desconhecido na lista de acessos da conta.
    """, """
        Security alert
        Suspicious activity
    """, """
        Suspicious login || Login alert from unknown location =>
        I got a login alert from a location I don't recognize.
        Phishing email using your brand =>
        Some staff received a phishing email with your logo asking for their password.
        Strange sessions on our account =>
        There are active sessions on my user that aren't mine.
        User clicked a suspicious link =>
        A colleague clicked a suspicious link and typed the password. What should we do?
        Unknown device =>
        An unknown device showed up in the account's access list.
    """),
    _driver("security_question", "security", 0.02, (0.0, 0.03, 0.2, 0.77), False,
            ("context",), """
        Dúvida de segurança
        Segurança e privacidade
    """, """
        Dúvida sobre LGPD =>
        Vocês estão adequados à LGPD? Nosso jurídico pediu a documentação.
        Como ativar autenticação em dois fatores =>
        Como ativo a autenticação em dois fatores para todos da conta?
        Questionário de segurança =>
        Podem preencher o questionário de segurança em anexo para nossa homologação?
        Relatório de pentest =>
        Vocês têm relatório de teste de intrusão recente que possam compartilhar?
        Política de retenção de dados =>
        Por quanto tempo vocês guardam os dados depois do cancelamento?
        Onde ficam os dados? || Certificação ISO 27001 =>
        Onde os dados ficam hospedados? Precisamos saber para a auditoria.
    """, """
        Security question
        Security and privacy
    """, """
        GDPR question =>
        Are you GDPR compliant? Our legal team asked for the documentation.
        How to enable two-factor authentication =>
        How do I enforce two-factor authentication for everyone on the account?
        Security questionnaire =>
        Could you fill in the attached security questionnaire for our vendor review?
        Latest pentest report =>
        Do you have a recent penetration test report you can share?
        Data retention policy =>
        How long do you keep our data after cancellation?
        Data hosting || SOC 2 report =>
        Where is the data hosted? We need it for an audit.
    """),
    _driver("howto", "product_question", 0.09, (0.0, 0.0, 0.1, 0.9), False, ("context",), """
        Dúvida
        Dúvida de uso
        Dúvida sobre {o_area}
    """, """
        Como exportar {do_area}? =>
        Como faço para exportar os dados {do_area} para Excel?
        Notificações por e-mail =>
        Onde configuro as notificações por e-mail?
        Agendar relatório =>
        É possível agendar o envio do relatório semanal?
        Pergunta sobre permissões =>
        Qual a diferença entre perfil de gestor e de administrador?
        Como cadastrar produtos em lote =>
        Como cadastro vários produtos de uma vez?
        Tutorial {do_area} =>
        Tem algum tutorial de como usar {o_area}?
        Uso pelo celular =>
        Dá para usar o sistema pelo celular?
        Segunda via de nota pelo sistema =>
        Como emito a segunda via de uma nota pelo sistema?
        Modelo de e-mail =>
        Consigo personalizar o modelo de e-mail enviado aos clientes?
        Como configurar {o_area}? =>
        Como configuro {o_area} para a nossa filial nova?
        Onde encontro o relatório de vendas? =>
        Não encontro o relatório de vendas por vendedor. Onde fica?
    """, """
        Question
        How-to question
        Question about {area}
    """, """
        How to export from {area}? =>
        How do I export data from {the_area} to Excel?
        Email notifications =>
        Where do I configure email notifications?
        Scheduling a report =>
        Is it possible to schedule the weekly report?
        Question about permissions =>
        What's the difference between manager and admin roles?
        Bulk product upload =>
        How can I add many products at once?
        Tutorial for {area} =>
        Is there a tutorial on how to use {the_area}?
        Using it on a phone =>
        Can we use the system from a phone?
        Past invoices in the portal =>
        How do I download past invoices from the portal?
        Email template =>
        Can I customize the email template sent to our customers?
        How do I set up {area}? =>
        How do I configure {the_area} for our new branch?
        Where is the sales report? =>
        I can't find the sales-by-rep report. Where is it?
    """),
    _driver("integration_question", "product_question", 0.04, (0.0, 0.03, 0.27, 0.7), False,
            ("context",), """
        Dúvida sobre integração
        Pergunta técnica sobre a API
    """, """
        Integração com {integration} =>
        Vocês têm integração com {integration}? Como configuro?
        Limite de requisições da API =>
        Qual o limite de requisições por minuto da API?
        Campo status na API =>
        A documentação da API não explica o campo status do pedido. O que significa?
        Token de API =>
        Como gero um token de API para o nosso sistema interno?
        Reenvio de webhooks =>
        Os webhooks reenviam o evento se o nosso servidor não responder?
        Ambiente de testes =>
        Existe um ambiente de testes (sandbox) para a integração com {integration}?
    """, """
        Integration question
        API question
    """, """
        Integration with {integration} =>
        Do you integrate with {integration}? How do I set it up?
        API rate limits =>
        What is the API rate limit per minute?
        Order status field =>
        The API docs don't explain the order status field. What does it mean?
        API token =>
        How do I generate an API token for our internal system?
        Webhook retries =>
        Do webhooks retry if our server doesn't respond?
        Sandbox environment =>
        Is there a sandbox environment for testing the {integration} integration?
    """),
    _driver("limits_question", "product_question", 0.03, (0.0, 0.02, 0.13, 0.85), False,
            ("context",), """
        Dúvida sobre o plano
        Limites da conta
    """, """
        Limite de usuários do plano =>
        Qual o limite de usuários no plano {plan}?
        Tamanho de anexo =>
        Qual o tamanho máximo de anexo?
        Dúvida sobre armazenamento =>
        Quanto espaço de armazenamento temos disponível?
        Funcionalidades do plano {plan} =>
        O plano {plan} inclui acesso à API?
        Histórico de relatórios =>
        Os relatórios ficam salvos por quanto tempo?
    """, """
        Question about our plan
        Account limits
    """, """
        User limit on our plan =>
        What is the user limit on the {plan} plan?
        Attachment size limit =>
        What's the maximum attachment size?
        Storage question =>
        How much storage do we have?
        What's included in {plan} =>
        Does the {plan} plan include API access?
        Report history =>
        How long are reports kept?
    """),
    _driver("suggestion", "feature_request", 0.06, (0.0, 0.0, 0.05, 0.95), False,
            ("context",), """
        Sugestão: {feature}
        Ideia de melhoria
        Pedido de funcionalidade: {feature}
        Sugestão de melhoria
    """, """
        Seria ótimo se o sistema tivesse {feature}.
        Sugiro incluir {feature}, facilitaria muito o nosso dia a dia.
        Previsão de {feature}? =>
        Vocês têm previsão de lançar {feature}?
        Gostaríamos de sugerir {feature}. Outros clientes devem querer também.
        Melhoria {no_area} =>
        Uma ideia: {feature} {no_area}.
        Fica a sugestão de {feature}.
    """, """
        Suggestion: {feature}
        Feature request: {feature}
        Would love {feature}
        Product suggestion
    """, """
        It would be great to have {feature}.
        Please consider adding {feature}, it would save us a lot of time.
        Any plans for {feature}? =>
        Is {feature} on the roadmap?
        We'd like to suggest {feature}. I'm sure other customers want it too.
        Improvement idea for {area} =>
        Idea: {feature} in {the_area}.
        Feature request: {feature}.
    """),
    _driver("business_need", "feature_request", 0.03, (0.0, 0.02, 0.3, 0.68), False,
            ("context",), """
        Precisamos de {feature}
        Requisito: {feature}
        {feature} - previsão?
    """, """
        Funcionalidade necessária para o contrato =>
        Para renovar o contrato precisamos de {feature}. Tem previsão?
        Nossa diretoria exige {feature} até o fim do trimestre.
        Sem {feature} vamos ter que manter uma planilha paralela. Conseguem priorizar?
        Estamos avaliando expandir para mais {n} usuários, mas dependemos de {feature}.
    """, """
        We need {feature}
        Requirement: {feature}
        {feature} - any timeline?
    """, """
        Feature needed for renewal =>
        To renew our contract we need {feature}. Any timeline?
        Our management requires {feature} by the end of the quarter.
        Without {feature} we have to keep a separate spreadsheet. Can you prioritize it?
        We're looking at adding {n} more users, but we depend on {feature}.
    """),
)

# (pt name, pt gender, en name, en name with article where it reads better)
AREAS = (
    ("login", "m", "login", "the login page"), ("checkout", "m", "checkout", "the checkout"),
    ("relatório de vendas", "m", "sales report", "the sales report"),
    ("API", "f", "API", "the API"), ("app móvel", "m", "mobile app", "the mobile app"),
    ("e-mail", "m", "email", "email"),
    ("emissão de nota fiscal", "f", "invoicing module", "the invoicing module"),
    ("VPN", "f", "VPN", "the VPN"), ("impressora", "f", "printer", "the printer"),
    ("dashboard", "m", "dashboard", "the dashboard"),
    ("painel administrativo", "m", "admin panel", "the admin panel"),
    ("integração com o ERP", "f", "ERP integration", "the ERP integration"),
    ("portal do cliente", "m", "customer portal", "the customer portal"),
    ("sincronização de pedidos", "f", "order sync", "the order sync"),
    ("busca", "f", "search", "search"), ("agenda", "f", "scheduling module", "the scheduler"),
    ("PDV", "m", "POS terminal", "the POS terminal"), ("site", "m", "website", "the website"),
    ("módulo de estoque", "m", "inventory module", "the inventory module"),
    ("upload de arquivos", "m", "file upload", "file upload"),
)
PAGES = {
    "pt": ("página de login", "tela de checkout", "tela de configurações", "página inicial",
           "tela de cadastro", "página de preços", "tela de relatórios"),
    "en": ("login page", "checkout screen", "settings page", "home page", "sign-up form",
           "pricing page", "reports screen"),
}
TYPOS = {
    "pt": ('"Relatorio" sem acento', '"recebimeto" em vez de "recebimento"',
           '"Comfirmar senha"', '"concluido" sem acento', '"excessão" em vez de "exceção"',
           '"obrigatorio" sem acento', '"Endereço de entrega" escrito "Endereco de entega"'),
    "en": ('"Recieve" instead of "Receive"', '"Acount settings"', '"Your order has been shiped"',
           '"Pasword" on the reset button', '"Sucessfully saved"', '"Adress" in the form'),
}
FEATURES = {
    "pt": ("modo escuro", "exportação de relatórios em PDF", "integração com o Slack",
           "campos personalizados nos chamados", "filtro por data no dashboard",
           "envio agendado de relatórios por e-mail", "login com Google", "um app para tablet",
           "atalhos de teclado", "webhooks para novos pedidos", "suporte a várias moedas",
           "assinatura eletrônica de contratos", "permissões por equipe",
           "importação de planilhas", "histórico de alterações por usuário"),
    "en": ("dark mode", "PDF export for reports", "a Slack integration",
           "custom fields on tickets", "a date filter on the dashboard",
           "scheduled email reports", "Google sign-in", "a tablet app", "keyboard shortcuts",
           "webhooks for new orders", "multi-currency support", "e-signature for contracts",
           "team-level permissions", "spreadsheet import", "a per-user audit history"),
}
INTEGRATIONS = ("Salesforce", "SAP", "Totvs", "Shopify", "Google Workspace", "Microsoft 365",
                "Zapier", "HubSpot", "QuickBooks", "Mercado Livre")
CODES = {
    "pt": ("erro 500", "Erro 502 Bad Gateway", "503 Service Unavailable",
           "ERR_CONNECTION_TIMED_OUT", "Erro inesperado (código E{d4})", "Internal Server Error",
           "HTTP 504", "ERR-{d4}", "Falha na conexão com o servidor", "tempo limite esgotado",
           "Erro ao processar solicitação #{d4}", "NullReferenceException"),
    "en": ("error 500", "502 Bad Gateway", "503 Service Unavailable", "ERR_CONNECTION_TIMED_OUT",
           "Unexpected error (code E{d4})", "Internal Server Error", "HTTP 504", "ERR-{d4}",
           "Connection refused", "Request timed out", "Something went wrong (ref {d4})",
           "NullReferenceException"),
}
PAYCODES = ("51", "05", "57", "N7", "do_not_honor", "card_declined", "insufficient_funds")
SINCE = {
    "pt": ("desde hoje cedo", "desde as {hour}h", "desde ontem à noite", "há umas {h} horas",
           "desde a atualização de ontem", "desde segunda-feira", "há uns {m} minutos",
           "desde o fim de semana", "desde que voltamos do almoço", "desde a madrugada",
           "desde cedo"),
    "en": ("since this morning", "since {hour}am", "since last night", "for about {h} hours",
           "since yesterday's update", "since Monday", "for the last {m} minutes",
           "since the weekend", "since lunch", "since early this morning", "since {hour}:30"),
}
DEPTS = {
    "pt": ("finanças", "vendas", "RH", "logística", "atendimento", "compras", "TI",
           "marketing", "contabilidade", "faturamento"),
    "en": ("finance", "sales", "HR", "logistics", "customer service", "purchasing", "IT",
           "marketing", "accounting", "billing"),
}
MONTHS = {
    "pt": ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto",
           "setembro", "outubro", "novembro", "dezembro"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}
PLANS = ("Básico", "Pro", "Business", "Enterprise", "Starter")
BROWSERS = ("Chrome", "Firefox", "Edge", "Safari")
SYSTEMS = ("Windows 11", "Windows 10", "macOS", "Android", "iPhone", "Linux")

PT_FIRST = ("João", "Maria", "Ana", "Pedro", "Lucas", "Juliana", "Fernanda", "Rafael", "Camila",
            "Bruno", "Patrícia", "Marcos", "Letícia", "Gustavo", "Aline", "Rodrigo", "Carla",
            "Thiago", "Beatriz", "Felipe", "Larissa", "Diego", "Renata", "André", "Vanessa")
PT_LAST = ("Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira", "Costa", "Ferreira",
           "Almeida", "Ribeiro", "Carvalho", "Gomes", "Martins", "Rocha", "Barbosa", "Araújo",
           "Cardoso", "Nascimento", "Moreira", "Teixeira")
EN_FIRST = ("John", "Emily", "Michael", "Sarah", "David", "Jessica", "Daniel", "Laura", "James",
            "Olivia", "Robert", "Megan", "Kevin", "Rachel", "Brian", "Hannah", "Steven", "Amanda",
            "Chris", "Natalie", "Priya", "Omar")
EN_LAST = ("Smith", "Johnson", "Brown", "Miller", "Davis", "Wilson", "Taylor", "Anderson",
           "Thomas", "Moore", "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright",
           "Scott", "Green", "Baker", "Patel", "Nguyen")

# Fictional customers, each with its fixed subscription tier and home language.
COMPANIES = (
    ("Construtora Horizonte", "enterprise", "pt"), ("Transportadora Rota Sul", "enterprise", "pt"),
    ("Metalúrgica Aço Forte", "enterprise", "pt"), ("Banco Digital Ipê", "enterprise", "pt"),
    ("Drogarias Boa Saúde", "premium", "pt"), ("Agropecuária Vale Verde", "premium", "pt"),
    ("Contabilidade Exata", "premium", "pt"), ("Cooperativa Serra Alta", "premium", "pt"),
    ("Laboratório Vida Plena", "premium", "pt"), ("Clínica Bem Viver", "standard", "pt"),
    ("Escola Novo Saber", "standard", "pt"), ("Móveis Carvalho & Filhos", "standard", "pt"),
    ("Mercado Sol Nascente", "standard", "pt"), ("Imobiliária Chave Certa", "standard", "pt"),
    ("Lima & Prado Advogados", "standard", "pt"), ("Hotel Mar Azul", "free", "pt"),
    ("Editora Página Viva", "free", "pt"), ("Ótica Visão Clara", "free", "pt"),
    ("Pet Shop Amigo Fiel", "free", "pt"),
    ("Northwind Logistics", "enterprise", "en"), ("Redwood Freight", "enterprise", "en"),
    ("Copperleaf Insurance", "enterprise", "en"), ("Tidewater Utilities", "enterprise", "en"),
    ("Bluefin Analytics", "premium", "en"), ("Quartzline Software", "premium", "en"),
    ("Ironclad Manufacturing", "premium", "en"), ("Greenfield School District", "premium", "en"),
    ("Harbor & Pine Dental", "standard", "en"), ("Evergreen Property Group", "standard", "en"),
    ("Summit Outdoor Gear", "standard", "en"), ("Lakeside Family Clinic", "standard", "en"),
    ("Atlas Consulting Group", "standard", "en"), ("Oakridge Law", "standard", "en"),
    ("Maple Street Bakery", "free", "en"), ("Brightwave Media", "free", "en"),
    ("Silverline Travel", "free", "en"), ("Pixel Forge Studio", "free", "en"),
)
TIER_VOLUME = {"enterprise": 3.0, "premium": 2.0, "standard": 1.5, "free": 1.0}

IMPACT_BY_PRIORITY = {  # individual, team, department, organization
    "urgent": (0.03, 0.12, 0.3, 0.55),
    "high": (0.1, 0.3, 0.35, 0.25),
    "medium": (0.35, 0.4, 0.2, 0.05),
    "low": (0.65, 0.25, 0.07, 0.03),
}
# Customers over-state: even low-priority tickets often claim high or critical urgency.
STATED_BY_PRIORITY = {  # low, medium, high, critical
    "urgent": (0.03, 0.12, 0.35, 0.5),
    "high": (0.08, 0.25, 0.4, 0.27),
    "medium": (0.2, 0.35, 0.3, 0.15),
    "low": (0.3, 0.32, 0.25, 0.13),
}
CHANNEL_BY_PRIORITY = {  # email, web, phone, chat, api
    "urgent": (0.25, 0.15, 0.3, 0.22, 0.08),
    "high": (0.32, 0.2, 0.18, 0.22, 0.08),
    "medium": (0.36, 0.3, 0.08, 0.18, 0.08),
    "low": (0.38, 0.32, 0.05, 0.17, 0.08),
}
DETAIL_COUNTS = {  # how many extra sentences, by channel: weights for 0, 1, 2, 3, 4
    "email": (0.15, 0.3, 0.3, 0.15, 0.1), "web": (0.25, 0.4, 0.25, 0.07, 0.03),
    "phone": (0.35, 0.4, 0.25, 0.0, 0.0), "chat": (0.6, 0.35, 0.05, 0.0, 0.0),
    "api": (0.6, 0.4, 0.0, 0.0, 0.0),
}

PHRASES = {
    "pt": {
        "greeting": _lines("""
            Olá,
            Olá, bom dia.
            Bom dia,
            Bom dia, tudo bem?
            Boa tarde,
            Boa tarde, pessoal.
            Prezados,
            Prezados, boa tarde.
            Oi,
            Oi pessoal,
            Olá equipe de suporte,
            Boa noite,
        """),
        "chat_greeting": _lines("""
            oi
            Oi, tudo bem?
            boa tarde
            Olá
        """),
        "closing": _lines("""
            Obrigado.
            Obrigada!
            Obrigado desde já.
            Aguardo retorno.
            Fico no aguardo.
            Atenciosamente,
            Grato.
            Valeu!
            Desde já agradeço.
            Abs
        """),
        "vague": _lines("""
            Estou com problema no sistema, podem me ligar?
            Não está funcionando.
            Favor verificar.
            Preciso de ajuda com {o_area}.
            Segue em anexo.
            Deu problema de novo, igual da outra vez.
            Alguém pode me retornar?
        """),
        "vague_subject": _lines("""
            Ajuda
            Problema
            Suporte
            (sem assunto)
            Chamado
        """),
        "opener": _lines("""
            Estou com um problema.
            Preciso de ajuda.
            Tudo bem? Seguinte:
            Não sei se é aqui que devo abrir, mas
            Abrindo chamado pelo seguinte:
            Mais uma vez,
        """),
        "phone": _lines("""
            Cliente ligou. Relato:
            Ligação de {caller} ({customer}):
            Atendimento telefônico - cliente informa:
            Cliente ligou relatando o seguinte:
        """),
        "since": _lines("""
            Está assim {since}.
            Isso está acontecendo {since}.
            O problema acontece {since}.
        """),
        "code": _lines("""
            Aparece a mensagem "{code}".
            O erro que aparece é {code}.
            Dá {code} na tela.
            Mensagem de erro: {code}
        """),
        "env": _lines("""
            Estou usando {browser} no {system}.
            Testei no {browser} e no celular, mesmo resultado.
            Acontece no {system}.
        """),
        "tried": _lines("""
            Já limpei o cache e reiniciei o computador.
            Já tentei sair e entrar de novo, não resolveu.
            Testamos em outra rede e continua igual.
            Reiniciei o roteador mas nada.
            Já falei com o nosso TI e eles disseram que é do lado de vocês.
        """),
        "attach": _lines("""
            Segue print em anexo.
            Anexei o print do erro.
            Mando o print se precisarem.
        """),
        "ref": _lines("""
            Referente à fatura {invoice}.
            Número do pedido: {order}.
            CNPJ {cnpj}.
            Contrato {order}.
        """),
        "user": _lines("""
            Meu usuário é {requester}.
            O login é {email}.
            Conta: {customer}.
        """),
        "context": _lines("""
            Somos clientes há {k} anos.
            Usamos o sistema no setor de {dept}.
            Temos {n} usuários na conta.
            Estamos no plano {plan}.
        """),
        "individual": _lines("""
            Por enquanto só eu estou com esse problema.
            Acontece só no meu usuário.
            Só comigo, os colegas estão normais.
        """),
        "team": _lines("""
            Afeta umas {n} pessoas do meu time.
            Meus colegas de {dept} também estão com o problema.
            Outras pessoas do time reclamaram também.
        """),
        "department": _lines("""
            O departamento de {dept} inteiro foi afetado.
            Todo o setor de {dept} está com o problema.
            A área de {dept} toda está sem conseguir trabalhar direito.
        """),
        "organization": _lines("""
            Afeta a empresa inteira.
            Todas as filiais estão com o mesmo problema.
            É geral, em todas as unidades.
        """),
        "individual_request": _lines("""
            É para o meu uso mesmo.
            Pergunto só para mim.
        """),
        "team_request": _lines("""
            Isso ajudaria o meu time.
            O pessoal de {dept} pediu.
        """),
        "department_request": _lines("""
            A área de {dept} toda precisa disso.
            Várias áreas pediram isso.
        """),
        "organization_request": _lines("""
            Seria útil para a empresa inteira.
            Todas as filiais usariam.
        """),
        "low": _lines("""
            Sem pressa.
            Não é urgente.
            Quando puderem.
        """),
        "medium": _lines("""
            Se puderem ver essa semana agradeço.
            Quando possível, por favor.
        """),
        "high": _lines("""
            Preciso disso resolvido hoje.
            Se puderem ver com prioridade agradeço.
            Por favor, o quanto antes.
            É importante!
        """),
        "critical": _lines("""
            URGENTE!!!
            É urgente, por favor!!
            Preciso de resposta IMEDIATA.
            Isso é crítico pra gente.
            urgentíssimo
            POR FAVOR ME AJUDEM
        """),
    },
    "en": {
        "greeting": _lines("""
            Hi,
            Hi team,
            Hello,
            Hello support,
            Good morning,
            Good afternoon,
            Dear support team,
            Hey,
            Hi there,
            To whom it may concern,
        """),
        "chat_greeting": _lines("""
            hi
            Hi there
            hello
            Hey
        """),
        "closing": _lines("""
            Thanks.
            Thanks in advance.
            Thank you!
            Regards,
            Best regards,
            Cheers,
            Looking forward to your reply.
            Thx
            Many thanks,
        """),
        "vague": _lines("""
            Having trouble with the system, can someone call me?
            It doesn't work.
            Please check.
            Need help with {the_area}.
            See attached.
            Same problem as last time.
            Can someone get back to me?
        """),
        "vague_subject": _lines("""
            Help
            Problem
            Support needed
            (no subject)
            Issue
        """),
        "opener": _lines("""
            We have a problem.
            I need some help.
            Quick question.
            Not sure if this is the right place, but
            Opening a ticket about the following.
            Again,
        """),
        "phone": _lines("""
            Phone call from {caller} at {customer}:
            Customer called, says:
            Call summary:
            Caller reports:
        """),
        "since": _lines("""
            It's been like this {since}.
            This has been happening {since}.
            Broken {since}.
        """),
        "code": _lines("""
            The error says "{code}".
            We get {code}.
            Error message: {code}
            It shows {code}.
        """),
        "env": _lines("""
            Using {browser} on {system}.
            Tried {browser} and my phone, same thing.
            Happens on {system}.
        """),
        "tried": _lines("""
            Already cleared the cache and restarted.
            Logging out and back in did not help.
            We tried another network, same result.
            Rebooted the router, nothing.
            Our IT team says it's on your side.
        """),
        "attach": _lines("""
            Screenshot attached.
            See the attached screenshot.
            Can send a screenshot if needed.
        """),
        "ref": _lines("""
            Invoice {invoice}.
            Order number {order}.
            Account ID {order}.
            Contract {order}.
        """),
        "user": _lines("""
            My username is {requester}.
            Login is {email}.
            Account: {customer}.
        """),
        "context": _lines("""
            We've been customers for {k} years.
            We use the system in {dept}.
            We have {n} users on the account.
            We're on the {plan} plan.
        """),
        "individual": _lines("""
            So far it's only me.
            Only happens on my user.
            Just me, my colleagues are fine.
        """),
        "team": _lines("""
            About {n} people on my team are affected.
            My colleagues in {dept} have the same problem.
            Others on the team are complaining too.
        """),
        "department": _lines("""
            The entire {dept} department is affected.
            All of {dept} has this problem.
            The whole {dept} area can't work properly.
        """),
        "organization": _lines("""
            It affects the entire company.
            All our branches have the same problem.
            It's company-wide, every location.
        """),
        "individual_request": _lines("""
            It's just for my own use.
            Asking for myself.
        """),
        "team_request": _lines("""
            This would help my team.
            The {dept} folks asked for it.
        """),
        "department_request": _lines("""
            The whole {dept} area needs this.
            Several departments asked for it.
        """),
        "organization_request": _lines("""
            It would be useful for the entire company.
            All our branches would use it.
        """),
        "low": _lines("""
            No rush.
            Not urgent.
            Whenever you get a chance.
        """),
        "medium": _lines("""
            Would appreciate a fix this week.
            When possible, please.
        """),
        "high": _lines("""
            Need this sorted today.
            Please treat as high priority.
            ASAP please.
            This is important!
        """),
        "critical": _lines("""
            URGENT!!!
            This is critical, please help ASAP!!
            Need this fixed NOW.
            Please escalate immediately.
            urgent urgent urgent
            PLEASE HELP
        """),
    },
}

# Shortcuts Brazilian users type; each occurrence is replaced only some of the time.
PT_INFORMAL = (("não", ("nao", "ñ", "n")), ("você", ("vc",)), ("vocês", ("vcs",)),
               ("porque", ("pq",)), ("também", ("tb", "tbm")), ("está", ("tá", "esta")),
               ("para", ("pra",)), ("obrigado", ("obg",)), ("estou", ("to",)),
               ("por favor", ("pfv", "por fvr")))
EN_INFORMAL = (("please", ("pls", "plz")), ("thanks", ("thx",)), ("you", ("u",)),
               ("because", ("cause", "bc")), ("cannot", ("cant",)))
# fmt: on


def strip_accents(text: str) -> str:
    """Drop the accents, keeping the case, as people typing fast in Portuguese often do."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize(
        "NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    )


def _slug(name: str) -> str:
    """Turn a name into the ASCII letters and digits of an e-mail address."""
    return re.sub(r"[^a-z0-9]", "", strip_accents(name).lower())


def _cap(text: str) -> str:
    """Upper-case the first letter only, so that "the API" starts a sentence as "The API"."""
    return text[:1].upper() + text[1:]


def _pick(rng: random.Random, options: Sequence[T], weights: Sequence[float]) -> T:
    """Draw one option with the given weights."""
    return rng.choices(options, weights=weights)[0]


class _Writer:
    """Writes one ticket's text: slot values, phrases and the noise of real users."""

    def __init__(
        self, rng: random.Random, lang: str, customer: str, domain: str, requester: str, caller: str
    ) -> None:
        self.rng = rng
        self.lang = lang
        self.slots = self._slots(customer, domain, requester)
        self.slots["caller"] = caller

    def _slots(self, customer: str, domain: str, requester: str) -> dict[str, str]:
        rng, lang = self.rng, self.lang
        pt_area, gender, en_area, en_the = rng.choice(AREAS)
        o, de, em, a = ("o", "do", "no", "ao") if gender == "m" else ("a", "da", "na", "à")
        browser, browser2 = rng.sample(BROWSERS, 2)
        first, last = _people(rng, lang)
        since = rng.choice(SINCE[lang]).format(
            hour=rng.randint(7, 11), h=rng.randint(2, 6), m=rng.choice((10, 15, 20, 30, 40))
        )
        cents = rng.randint(0, 99)
        whole = rng.choice((89, 149, 249, 399, 590, 1249, 2380, 4990, 12500))
        amount = (
            f"R$ {whole:,}".replace(",", ".") + f",{cents:02d}"
            if lang == "pt"
            else f"${whole:,}.{cents:02d}"
        )
        year = rng.choice((2025, 2026))
        cnpj = f"{rng.randint(10, 99)}.{rng.randint(100, 999)}.{rng.randint(100, 999)}/0001-"
        cnpj += f"{rng.randint(10, 99)}"
        return {
            "area": pt_area if lang == "pt" else en_area,
            "o_area": f"{o} {pt_area}",
            "do_area": f"{de} {pt_area}",
            "no_area": f"{em} {pt_area}",
            "ao_area": f"{a} {pt_area}",
            "parado": "parad" + o,
            "lento": "lent" + o,
            "the_area": en_the,
            "since": since,
            "code": rng.choice(CODES[lang]).format(d4=rng.randint(1000, 9999)),
            "paycode": rng.choice(PAYCODES),
            "n": str(rng.randint(3, 40)),
            "n2": str(rng.randint(2, 30)),
            "k": str(rng.randint(2, 9)),
            "sec": str(rng.choice((10, 15, 20, 30, 60))),
            "m": str(rng.choice((5, 10, 15, 20))),
            "dept": rng.choice(DEPTS[lang]),
            "browser": browser,
            "browser2": browser2,
            "system": rng.choice(SYSTEMS),
            "page": rng.choice(PAGES[lang]),
            "typo": rng.choice(TYPOS[lang]),
            "feature": rng.choice(FEATURES[lang]),
            "integration": rng.choice(INTEGRATIONS),
            "plan": rng.choice(PLANS),
            "month": rng.choice(MONTHS[lang]),
            "amount": amount,
            "invoice": rng.choice(
                (
                    f"{year}-{rng.randint(100, 9999):04d}",
                    f"#{rng.randint(10000, 99999)}",
                    f"NF {rng.randint(1000, 99999)}",
                )
            ),
            "order": str(rng.randint(100000, 999999)),
            "cnpj": cnpj,
            "first": first,
            "email": f"{_slug(first)}.{_slug(last)}@{domain}",
            "domain": domain,
            "customer": customer,
            "requester": requester,
        }

    def fill(self, template: str) -> str:
        """Fill a template's slots and start it with a capital."""
        return _cap(template.format_map(self.slots))

    def phrase(self, kind: str) -> str:
        """Return one filled phrase of a kind (greeting, closing, error code...)."""
        return self.fill(self.rng.choice(PHRASES[self.lang][kind]))

    def subject(self, driver: Driver, own: tuple[str, ...], body: str, stated: str) -> str:
        """Return a subject: the body's own, its first words or the driver's, sometimes shouted."""
        rng = self.rng
        roll = rng.random()
        if own and roll < 0.65:
            text = self.fill(rng.choice(own))
        elif roll < 0.75:  # web forms that take the first words of the description
            words = body.split()
            text = " ".join(words[:6])
            text = text.rstrip(".,:;") + "..." if len(words) > 6 else text
        else:
            text = self.fill(rng.choice(driver.subjects[self.lang]))
        shout = {"critical": 0.35, "high": 0.1}.get(stated, 0.02)
        if rng.random() < shout:
            if stated == "critical" and rng.random() < 0.6:
                return ("URGENTE: " if self.lang == "pt" else "URGENT: ") + text
            return text.upper()
        roll = rng.random()
        if roll < 0.07:
            return "Re: " + text
        if roll < 0.1:
            return f"[{self.slots['customer']}] {text}"
        return text

    def ticket(
        self, driver: Driver, channel: str, impact: str, stated: str, signature: str
    ) -> tuple[str, str]:
        """Return the subject and the description of one ticket."""
        rng = self.rng
        own, template = rng.choice(driver.bodies[self.lang])
        if rng.random() < VAGUE:
            own = PHRASES[self.lang]["vague_subject"]
            template = rng.choice(PHRASES[self.lang]["vague"])
        main = self.fill(template)
        body = [main]
        if rng.random() < 0.1:
            opener = self.phrase("opener")
            if opener.endswith((" mas", " but")):
                body[0] = main[:1].lower() + main[1:]
            body.insert(0, opener)
        # A detail that repeats what the body already says (its error code, since when) is left out.
        kinds = [k for k in driver.details if f"{{{k}}}" not in template]
        kinds.append(impact if driver.problem else f"{impact}_request")
        count = _pick(rng, range(5), DETAIL_COUNTS[channel])
        for kind in rng.sample(kinds, min(count, len(kinds))):
            body.append(self.phrase(kind))
        if rng.random() < {"low": 0.2, "medium": 0.15, "high": 0.45, "critical": 0.65}[stated]:
            body.append(self.phrase(stated))
        head: list[str] = []
        tail: list[str] = []
        if channel == "phone":
            head.append(self.phrase("phone"))
        elif channel == "chat":
            if rng.random() < 0.4:
                head.append(self.phrase("chat_greeting"))
        elif channel in ("email", "web"):
            if rng.random() < (0.8 if channel == "email" else 0.45):
                head.append(self.phrase("greeting"))
            if rng.random() < (0.7 if channel == "email" else 0.35):
                tail.append(self.phrase("closing"))
                if channel == "email" and rng.random() < 0.5:
                    tail.append(signature)
        sep = "\n" if channel == "email" and rng.random() < 0.5 else " "
        description = sep.join([*head, " ".join(body), *tail])
        return self.subject(driver, own, main, stated), description

    def roughen(self, text: str, ticket_noise: dict[str, bool]) -> str:
        """Add what real users do: no accents, shortcuts, typos, caps lock, lower case."""
        rng = self.rng
        if self.lang == "pt":
            if ticket_noise["informal"]:
                for word, subs in PT_INFORMAL:
                    text = re.sub(
                        rf"\b{word}\b",
                        lambda m, s=subs: rng.choice(s) if rng.random() < 0.6 else m.group(0),
                        text,
                    )
            if ticket_noise["accents"]:
                text = strip_accents(text)
        elif ticket_noise["informal"]:
            for word, subs in EN_INFORMAL:
                text = re.sub(
                    rf"\b{word}\b",
                    lambda m, s=subs: rng.choice(s) if rng.random() < 0.6 else m.group(0),
                    text,
                )
        if ticket_noise["typos"]:
            text = " ".join(
                _typo(rng, w) if len(w) > 4 and w.isalpha() and rng.random() < 0.05 else w
                for w in text.split(" ")
            )
        if ticket_noise["lower"]:
            text = text.lower()
        return text


def _typo(rng: random.Random, word: str) -> str:
    """Swap, drop or double one inner letter."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _people(rng: random.Random, lang: str) -> tuple[str, str]:
    """Return a first and a last name common in Brazil or in English-speaking countries."""
    if lang == "pt":
        return rng.choice(PT_FIRST), rng.choice(PT_LAST)
    return rng.choice(EN_FIRST), rng.choice(EN_LAST)


def _requester(rng: random.Random, first: str, last: str, domain: str, tier: str) -> str:
    """Return a fake work address; free accounts sometimes write from a personal one."""
    f, la = _slug(first), _slug(last)
    local = rng.choice((f"{f}.{la}", f"{f[0]}{la}", f"{f}_{la}", f, f"{f}.{la[0]}"))
    if tier == "free" and rng.random() < 0.4:
        return f"{f}{la}{rng.randint(1, 99)}@webmail.example"
    return f"{local}@{domain}"


def _adjust_for_tier(rng: random.Random, priority: str, tier: str) -> str:
    """A VIP with a serious problem goes up; a free account's trouble waits a little longer."""
    roll = rng.random()
    if tier == "enterprise":
        if (priority == "high" and roll < 0.2) or (priority == "medium" and roll < 0.12):
            return PRIORITIES[PRIORITIES.index(priority) - 1]
    elif tier == "premium":
        if (priority == "high" and roll < 0.08) or (priority == "medium" and roll < 0.05):
            return PRIORITIES[PRIORITIES.index(priority) - 1]
    elif tier == "free":
        if priority == "urgent" and roll < 0.25:
            return "high"
        if priority in ("high", "medium") and roll < 0.12:
            return PRIORITIES[PRIORITIES.index(priority) + 1]
    return priority


def _noisy_priority(rng: random.Random, priority: str) -> str:
    """Move a priority one step, as a second annotator might."""
    i = PRIORITIES.index(priority)
    if i == 0:
        return PRIORITIES[1]
    if i == len(PRIORITIES) - 1:
        return PRIORITIES[i - 1]
    return PRIORITIES[i + rng.choice((-1, 1))]


def generate_tickets(seed: int = DEFAULT_SEED, rows: int = DEFAULT_ROWS) -> list[dict[str, str]]:
    """Return ``rows`` synthetic tickets, the same ones for the same seed."""
    rng = random.Random(seed)
    driver_weights = [d.weight for d in DRIVERS]
    company_weights = [TIER_VOLUME[tier] for _, tier, _ in COMPANIES]
    tickets = []
    for _ in range(rows):
        driver = rng.choices(DRIVERS, weights=driver_weights)[0]
        customer, tier, home = rng.choices(COMPANIES, weights=company_weights)[0]
        lang = home if rng.random() < 0.85 else ("en" if home == "pt" else "pt")
        domain = f"{_slug(customer)}.example"
        first, last = _people(rng, home)
        requester = _requester(rng, first, last, domain, tier)

        priority = _adjust_for_tier(rng, _pick(rng, PRIORITIES, driver.priority), tier)
        impact = _pick(rng, IMPACTS, driver.impact or IMPACT_BY_PRIORITY[priority])
        stated = _pick(rng, URGENCIES, STATED_BY_PRIORITY[priority])
        channel = _pick(rng, CHANNELS, CHANNEL_BY_PRIORITY[priority])

        writer = _Writer(rng, lang, customer, domain, requester, first)
        noise = {
            "accents": lang == "pt" and rng.random() < 0.3,
            "informal": rng.random() < (0.35 if channel == "chat" else 0.15),
            "typos": rng.random() < 0.3,
            "lower": rng.random() < (0.25 if channel == "chat" else 0.05),
        }
        signature = first if rng.random() < 0.6 else f"{first} {last}\n{customer}"
        subject, description = writer.ticket(driver, channel, impact, stated, signature)
        subject = writer.roughen(subject, noise)
        description = writer.roughen(description, noise)

        category = driver.category
        if rng.random() < LABEL_NOISE:
            priority = _noisy_priority(rng, priority)
        if rng.random() < LABEL_NOISE:
            category = rng.choice(NEIGHBOUR_CATEGORIES[category])
        tickets.append(
            {
                "subject": subject,
                "description": description,
                "requester": requester,
                "customer": customer,
                "customer_tier": tier,
                "channel": channel,
                "language": lang,
                "stated_urgency": stated,
                "impact": impact,
                "priority": priority,
                "category": category,
            }
        )
    return tickets


def write_csv(tickets: list[dict[str, str]], out: Path) -> None:
    """Write tickets as UTF-8 CSV with a header and Unix line ends, byte-for-byte reproducible."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(tickets)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and write the CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    tickets = generate_tickets(args.seed, args.rows)
    write_csv(tickets, args.out)
    print(f"wrote {len(tickets)} synthetic tickets to {args.out}")


if __name__ == "__main__":
    main()
