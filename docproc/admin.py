"""Django admin for API clients and webhook deliveries (read-only); users come with Django's own
UserAdmin. Every change is audited: clients through docproc.clients, users through the audit
signals (docproc/audit/signals.py)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from docproc import clients
from docproc.audit.service import Actor
from docproc.models import ApiClient, WebhookDelivery
from docproc.webhooks import UnsafeWebhookUrl, check_webhook_url


class ApiClientForm(forms.ModelForm):
    class Meta:
        model = ApiClient
        fields = ("name", "allowed_doc_types", "is_active", "rate_limit_per_minute", "retention_days", "webhook_url")

    def clean_webhook_url(self) -> str:
        url = self.cleaned_data["webhook_url"]
        if url:
            try:
                check_webhook_url(url)
            except UnsafeWebhookUrl as exc:
                raise forms.ValidationError(str(exc)) from None
        return url

    def clean_allowed_doc_types(self):
        try:
            return clients.check_doc_types(list(self.cleaned_data["allowed_doc_types"] or []))
        except clients.ClientRefused as exc:
            raise forms.ValidationError(exc.detail) from None


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = ("name", "is_active", "token_prefix", "webhook_url", "rate_limit_per_minute", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("token_prefix", "created_at")
    fields = ("name", "allowed_doc_types", "is_active", "rate_limit_per_minute", "retention_days", "webhook_url",
              "token_prefix", "created_at")
    actions = ("rotate_tokens", "revoke")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # documents and the audit log name the client: revoke it instead

    def save_model(self, request, obj, form, change) -> None:
        actor = Actor.user(request.user)
        with transaction.atomic():
            before = clients.client_state(ApiClient.objects.get(pk=obj.pk)) if change else None
            shown = []
            if not change:
                token = ApiClient.new_token()
                obj.set_token(token)
                shown.append(f"token {token}")
            if obj.webhook_url and (not obj.webhook_secret or "webhook_url" in form.changed_data):
                obj.webhook_secret = clients.new_webhook_secret()
                shown.append(f"webhook secret {obj.webhook_secret}")
            elif not obj.webhook_url:
                obj.webhook_secret = ""
            super().save_model(request, obj, form, change)
            clients.api_client_changed(client=obj, before=before, actor=actor)
        if shown:
            messages.warning(request, f"{obj.name}: {'; '.join(shown)} (shown once: copy it now).")

    @admin.action(description="Rotate the token of the selected clients")
    def rotate_tokens(self, request, queryset) -> None:
        for client in queryset:
            issued = clients.api_client_rotate_token(name=client.name, actor=Actor.user(request.user))
            messages.warning(request, f"{client.name}: new token {issued.token} (shown once).")

    @admin.action(description="Revoke the selected clients")
    def revoke(self, request, queryset) -> None:
        for client in queryset:
            clients.api_client_revoke(name=client.name, actor=Actor.user(request.user))
        messages.success(request, f"Revoked {queryset.count()} client(s).")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Read-only: deliveries are written by docproc.webhooks alone."""

    list_display = ("id", "client", "event", "status", "attempts", "last_status_code", "created_at", "delivered_at")
    list_filter = ("status", "event")
    search_fields = ("id", "document__id", "client__name")
    exclude = ("payload",)  # the result body holds field values

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
