"""Pages for workers: the trial runner and the local MTurk landing-page preview (being written)."""

from fastapi import APIRouter

router = APIRouter()
