"""SKILL.md, the format agent tools share: YAML front matter (name, description), then instructions.

A skill travels as a SKILL.md on its own, a folder holding one, or a zip of that folder. Reading a
zip is bounded: the archive, each member and the SKILL.md have size limits, and only SKILL.md is
read (other files of the folder are ignored).
"""

from __future__ import annotations

import io
import re
import zipfile

import yaml
from pydantic import ValidationError

from assistant.errors import InvalidSkillFile, SkillFileTooLarge
from assistant.models import Skill
from assistant.schemas import SkillCreate

SKILL_FILE = "SKILL.md"
MAX_ARCHIVE_BYTES = 5 * 1024 * 1024
MAX_SKILL_BYTES = 512 * 1024
MAX_MEMBERS = 200
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)


def render(skill: Skill) -> str:
    """A skill as SKILL.md text."""
    head = yaml.safe_dump(
        {"name": skill.name, "description": skill.description},
        sort_keys=False,
        allow_unicode=True,
    )
    return f"---\n{head}---\n\n{skill.instructions}\n"


def parse(text: str) -> SkillCreate:
    """A SKILL.md's skill.

    Raises:
        InvalidSkillFile: no front matter, bad YAML, or a missing or invalid name.
    """
    match = FRONT_MATTER.match(text.lstrip("\ufeff"))
    if match is None:
        raise InvalidSkillFile("SKILL.md must start with --- YAML front matter ---.")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        raise InvalidSkillFile("The front matter of SKILL.md is not valid YAML.") from None
    if not isinstance(meta, dict):
        raise InvalidSkillFile("The front matter of SKILL.md must be a mapping.")
    try:
        return SkillCreate(
            name=str(meta.get("name", "")),
            description=str(meta.get("description") or ""),
            instructions=match.group(2).strip(),
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidSkillFile(f"SKILL.md is not a valid skill: {problems}.") from None


def to_zip(skill: Skill) -> bytes:
    """A zip holding the folder `<name>/SKILL.md`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{skill.name}/{SKILL_FILE}", render(skill))
    return buffer.getvalue()


def from_upload(data: bytes) -> SkillCreate:
    """The skill of an uploaded zip (a folder with SKILL.md) or of a bare SKILL.md.

    Raises:
        SkillFileTooLarge: the upload, or the SKILL.md inside, exceeds the limits.
        InvalidSkillFile: not a zip with exactly one SKILL.md, nor a SKILL.md.
    """
    if len(data) > MAX_ARCHIVE_BYTES:
        raise SkillFileTooLarge(limit=MAX_ARCHIVE_BYTES)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if len(data) > MAX_SKILL_BYTES:
            raise SkillFileTooLarge(limit=MAX_SKILL_BYTES)
        return parse(_text(data))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return parse(_text(_read_skill_member(archive)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError):
        raise InvalidSkillFile("The zip archive cannot be read.") from None


def _read_skill_member(archive: zipfile.ZipFile) -> bytes:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise SkillFileTooLarge(limit_members=MAX_MEMBERS)
    found = [m for m in members if m.filename.rsplit("/", 1)[-1] == SKILL_FILE and not m.is_dir()]
    if len(found) != 1:
        raise InvalidSkillFile(f"The zip must hold exactly one {SKILL_FILE}.", found=len(found))
    member = found[0]
    if member.file_size > MAX_SKILL_BYTES:
        raise SkillFileTooLarge(limit=MAX_SKILL_BYTES)
    with archive.open(member) as handle:
        content = handle.read(MAX_SKILL_BYTES + 1)
    if len(content) > MAX_SKILL_BYTES:
        raise SkillFileTooLarge(limit=MAX_SKILL_BYTES)
    return content


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSkillFile("SKILL.md must be UTF-8 text.") from None
