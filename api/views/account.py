"""The acting customer's account: balance and master switch, ledger, card
top-ups and saved cards."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import refusal
from api.serializers.account import (
    BalanceChangeSerializer,
    BalanceSerializer,
    CardSerializer,
    LedgerEntrySerializer,
    PaymentAttemptSerializer,
    TopUpSerializer,
)
from api.views.common import (
    BAD_INPUT,
    CONFLICT,
    IDEMPOTENCY_KEY,
    REFUSED,
    REPLAYED,
    IsCustomer,
    actor_of,
    idempotency_key_of,
    replay_headers,
    responses,
)
from balances.selectors import account_of, ledger_of
from balances.services import account_update
from once.idempotency import request_fingerprint
from once.services import top_up_once
from payments.services import card_remove, card_set_default, cards_shown


class Balance(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema(operation_id="balance_retrieve", tags=["account"], responses=responses({200: BalanceSerializer}))
    def get(self, request):
        actor = actor_of(request)
        return Response(BalanceSerializer(account_of(actor=actor, account_id=actor.customer_id)).data)

    @extend_schema(
        operation_id="balance_update",
        tags=["account"],
        summary="Change the account's master auto-renew switch or its standing renewal day",
        description=(
            "Either or both: `auto_renew` (the master switch) and `renewal_day` (1-31, or null for none: the day "
            "of the month manual renewals align to by default, pro rata). Each change is audited."
        ),
        request=BalanceChangeSerializer,
        responses=responses({200: BalanceSerializer}, BAD_INPUT, REFUSED),
    )
    def patch(self, request):
        body = BalanceChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actor = actor_of(request)
        account_update(actor=actor, account_id=actor.customer_id, **body.validated_data)
        return Response(BalanceSerializer(account_of(actor=actor, account_id=actor.customer_id)).data)


class Ledger(GenericAPIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema(
        operation_id="ledger_list", tags=["account"], responses=responses({200: LedgerEntrySerializer(many=True)})
    )
    def get(self, request):
        actor = actor_of(request)
        page = self.paginate_queryset(ledger_of(actor=actor, account_id=actor.customer_id))
        return self.get_paginated_response(LedgerEntrySerializer(page, many=True).data)


class TopUp(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema(
        operation_id="balance_top_up",
        tags=["account"],
        summary="Top up the balance from the default card",
        description=(
            "Charges the default saved card; the balance is credited once the charge succeeded. The attempt's "
            "`state` says how it ended: `succeeded`, `failed` (see `error`) or `unknown` (settled later, never "
            "charged twice). Without a saved card: 422 `no_usable_card`. Needs an `Idempotency-Key`, like "
            "POST /api/renewals/: a replay answers the first answer and charges nothing."
        ),
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        request=TopUpSerializer,
        responses=responses({201: PaymentAttemptSerializer}, BAD_INPUT, CONFLICT, REFUSED),
    )
    def post(self, request):
        key = idempotency_key_of(request)
        actor = actor_of(request)
        # The amount is checked in the account's currency (its places, the card processor's minimum).
        currency = account_of(actor=actor, account_id=actor.customer_id).currency
        body = TopUpSerializer(data=request.data, context={"currency": currency})
        body.is_valid(raise_exception=True)
        answer = top_up_once(
            actor=actor_of(request),
            key=key,
            fingerprint=request_fingerprint(method=request.method, path=request.path, body=request.data),
            amount=body.validated_data["amount"],
            render=lambda attempt: PaymentAttemptSerializer(attempt).data,
            refused=refusal,
        )
        return Response(answer.body, status=answer.status, headers=replay_headers(answer))


class CardList(GenericAPIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema(operation_id="cards_list", tags=["cards"], responses=responses({200: CardSerializer(many=True)}))
    def get(self, request):
        page = self.paginate_queryset(cards_shown(actor=actor_of(request)))
        return self.get_paginated_response(CardSerializer(page, many=True).data)


class CardDefault(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema(
        operation_id="cards_make_default",
        tags=["cards"],
        summary="Make a saved card the default",
        request=None,
        responses=responses({200: CardSerializer}),
    )
    def post(self, request, card_id: int):
        return Response(CardSerializer(card_set_default(actor=actor_of(request), card_id=card_id)).data)


class CardDetail(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema(
        operation_id="cards_destroy",
        tags=["cards"],
        summary="Remove a saved card",
        description="Detaches it at Stripe and forgets it; another card becomes the default.",
        request=None,
        responses=responses({204: None}, REFUSED),
    )
    def delete(self, request, card_id: int):
        card_remove(actor=actor_of(request), card_id=card_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
