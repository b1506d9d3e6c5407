"""Tables of the consent context (purposes, requests, grants and reports come with the consent issue)."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from audit.entries import NAMING


class ConsentBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
