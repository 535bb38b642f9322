from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from docproc.models import Document, DocumentStatus


@login_required
def queue(request):
    docs = Document.objects.filter(status=DocumentStatus.NEEDS_REVIEW).order_by("created_at")[:100]
    return render(request, "reviewer/queue.html", {"documents": docs})
