"""The waporta web dashboard, installed as ``waporta_dashboard`` (served at ``/dashboard``)."""

from __future__ import annotations
