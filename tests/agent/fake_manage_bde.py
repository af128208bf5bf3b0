#!/usr/bin/env python3
"""fake_manage_bde.py - stands in for manage-bde.exe in the agent tests.

It keeps the volume's recovery-password protectors in $FAKE_BDE_STATE (JSON
list of {"id", "password"}) and prints what manage-bde prints, in the
language of $FAKE_BDE_LANG (en, de, fr: the console code page CP850 and CRLF
line ends, like the real tool; see fixtures/bde-*.txt).  Each call is
appended to $FAKE_BDE_STATE.log.  Supported:
  -protectors -get V: -Type RecoveryPassword
  -protectors -add V: -RecoveryPassword
  -protectors -delete V: -id {GUID}
"""
import json
import os
import secrets
import sys
import uuid

STATE = os.environ["FAKE_BDE_STATE"]
LANG = os.environ.get("FAKE_BDE_LANG", "en")
T = {
    "en": ("BitLocker Drive Encryption: Configuration Tool version 10.0.19041\n"
           "Copyright (C) 2013 Microsoft Corporation. All rights reserved.\n",
           "Volume {v} [Windows]\nKey Protectors of Type Numerical Password\n",
           "Key Protectors Added:\n", "Numerical Password:", "ID:", "Password:",
           "ERROR: No key protectors found.", "The key protector with ID \"{id}\" was deleted."),
    "de": ("BitLocker-Laufwerkverschlüsselung: Konfigurationstool, Version 10.0.19041\n"
           "Copyright (C) 2013 Microsoft Corporation. Alle Rechte vorbehalten.\n",
           "Volume \"{v}\" [Windows]\nSchlüsselschutzvorrichtungen vom Typ \"Numerisches Kennwort\"\n",
           "Hinzugefügte Schlüsselschutzvorrichtungen:\n", "Numerisches Kennwort:", "ID:",
           "Kennwort:", "FEHLER: Es wurden keine Schlüsselschutzvorrichtungen gefunden.",
           "Die Schlüsselschutzvorrichtung mit der ID \"{id}\" wurde gelöscht."),
    "fr": ("Chiffrement de lecteur BitLocker : version de l'outil de configuration 10.0.19041\n"
           "Copyright (C) 2013 Microsoft Corporation. Tous droits réservés.\n",
           "Volume {v} [Windows]\nProtecteurs de clés de type Mot de passe numérique\n",
           "Protecteurs de clés ajoutés :\n", "Mot de passe numérique :", "ID :",
           "Mot de passe :", "ERREUR : aucun protecteur de clé trouvé.",
           "Le protecteur de clé avec l'ID « {id} » a été supprimé."),
}[LANG]


def out(text, code=0):
    data = text.replace("\n", "\r\n").encode("utf-8" if LANG == "en" else "cp850")
    sys.stdout.buffer.write(data)
    sys.exit(code)


def load():
    with open(STATE) as f:
        return json.load(f)


def save(p):
    with open(STATE + ".tmp", "w") as f:
        json.dump(p, f)
    os.replace(STATE + ".tmp", STATE)


def block(p):
    return "    %s\n      %s %s\n      %s\n        %s\n\n" % (T[3], T[4], p["id"], T[5],
                                                          p["password"])


def new_password():
    return "-".join("%06d" % (secrets.randbelow(65536) * 11) for _ in range(8))


a = sys.argv[1:]
with open(STATE + ".log", "a") as f:
    f.write(" ".join(a) + "\n")
prots = load()
if a[:2] == ["-protectors", "-get"] and a[3:] == ["-Type", "RecoveryPassword"]:
    head = T[0] + "\n" + T[1].format(v=a[2]) + "\n"
    if not prots:
        out(head + T[6] + "\n", 1)
    out(head + "".join(block(p) for p in prots))
if a[:2] == ["-protectors", "-add"] and a[3:] == ["-RecoveryPassword"]:
    p = {"id": "{%s}" % str(uuid.uuid4()).upper(), "password": new_password()}
    prots.append(p)
    save(prots)
    out(T[0] + "\n" + T[2] + "\n" + block(p))
if a[:2] == ["-protectors", "-delete"] and a[3] == "-id" and len(a) == 5:
    left = [p for p in prots if p["id"] != a[4]]
    if len(left) == len(prots):
        out(T[0] + "\n" + T[6] + "\n", 1)
    save(left)
    out(T[0] + "\n" + T[7].format(id=a[4]) + "\n")
out("ERROR: unsupported arguments for the fake: %s\n" % " ".join(a), 2)
