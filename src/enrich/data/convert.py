#!/usr/bin/env python3
"""Converts Matomo's search-engine and social-network lists into the line files that
`src/enrich/referrer.rs` embeds, and writes the ISO 3166-1 country table
`src/enrich/countries.rs`. Run it again when a list is updated:

    python3 src/enrich/data/convert.py SearchEngines.yml Socials.yml

SearchEngines.yml and Socials.yml come from matomo-org/searchengine-and-social-list
(CC0 1.0). The country names come from Debian's iso-codes package
(/usr/share/iso-codes/json/iso_3166-1.json, its common names where it has them), with
the overrides below; the continents follow Matomo's core/DataFiles/Countries.php.

Output format of the list files: one record per line, `TAG VALUE`, where VALUE is the
rest of the line.
  search_engines.txt:  E name   (starts an engine configuration)
                       U url    (a host, maybe with `{}` and/or a path)
                       P param  (a query parameter, or a /regex/ on the whole URL)
                       H hidden (a path that marks a search without keyword: /regex/ or literal)
                       C charset
  socials.txt:         S name   (starts a network)
                       U domain
"""
import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def clean(value, what):
    value = str(value)
    if "\n" in value or "\r" in value:
        sys.exit(f"{what} contains a line break: {value!r}")
    return value.strip()


def search_engines(path):
    data = yaml.safe_load(open(path, encoding="utf-8"))
    out = []
    for name, configs in data.items():
        for config in configs or []:
            out.append("E " + clean(name, "engine name"))
            for url in config.get("urls") or []:
                out.append("U " + clean(url, "url").lower())
            for param in config.get("params") or []:
                out.append("P " + clean(param, "param"))
            for hidden in config.get("hiddenkeyword") or []:
                out.append("H " + clean(hidden, "hiddenkeyword"))
            for charset in config.get("charsets") or []:
                out.append("C " + clean(charset, "charset"))
    return out


def socials(path):
    data = yaml.safe_load(open(path, encoding="utf-8"))
    out = []
    for name, domains in data.items():
        out.append("S " + clean(name, "network name"))
        for domain in domains or []:
            out.append("U " + clean(domain, "domain").lower())
    return out


# CLDR-style English short names where the ISO name is long or formal.
NAME_OVERRIDES = {
    "BQ": "Caribbean Netherlands",
    "CD": "Congo - Kinshasa",
    "CG": "Congo - Brazzaville",
    "CI": "Côte d’Ivoire",
    "FK": "Falkland Islands",
    "FM": "Micronesia",
    "GB": "United Kingdom",
    "HK": "Hong Kong",
    "MF": "St. Martin",
    "MO": "Macao",
    "PS": "Palestinian Territories",
    "RU": "Russia",
    "SH": "St. Helena",
    "SX": "Sint Maarten",
    "US": "United States",
    "VA": "Vatican City",
    "VG": "British Virgin Islands",
    "VI": "U.S. Virgin Islands",
    "KN": "St. Kitts & Nevis",
    "LC": "St. Lucia",
    "VC": "St. Vincent & Grenadines",
    "PM": "St. Pierre & Miquelon",
    "BL": "St. Barthélemy",
    "CZ": "Czechia",
    "MK": "North Macedonia",
    "BN": "Brunei",
    "CV": "Cape Verde",
    "SZ": "Eswatini",
}

# Matomo's continent codes (core/DataFiles/Countries.php); the four codes newer than
# that file are placed as MaxMind does, with Central America for the Caribbean.
CONTINENTS = """
ad eur ae asi af asi ag amc ai amc al eur am asi ao afr aq ant ar ams as oce at eur
au oce aw amc ax eur az asi ba eur bb amc bd asi be eur bf afr bg eur bh asi bi afr
bj afr bl amc bm amc bn asi bo ams bq amc br ams bs amc bt asi bv ant bw afr by eur
bz amc ca amn cc asi cd afr cf afr cg afr ch eur ci afr ck oce cl ams cm afr cn asi
co ams cr amc cu amc cv afr cw amc cx asi cy eur cz eur de eur dj afr dk eur dm amc
do amc dz afr ec ams ee eur eg afr eh afr er afr es eur et afr fi eur fj oce fk ams
fm oce fo eur fr eur ga afr gb eur gd amc ge asi gf ams gg eur gh afr gi eur gl amn
gm afr gn afr gp amc gq afr gr eur gs ant gt amc gu oce gw afr gy ams hk asi hm ant
hn amc hr eur ht amc hu eur id asi ie eur il asi im eur in asi io asi iq asi ir asi
is eur it eur je eur jm amc jo asi jp asi ke afr kg asi kh asi ki oce km afr kn amc
kp asi kr asi kw asi ky amc kz asi la asi lb asi lc amc li eur lk asi lr afr ls afr
lt eur lu eur lv eur ly afr ma afr mc eur md eur me eur mf amc mg afr mh oce mk eur
ml afr mm asi mn asi mo asi mp oce mq amc mr afr ms amc mt eur mu afr mv asi mw afr
mx amn my asi mz afr na afr nc oce ne afr nf oce ng afr ni amc nl eur no eur np asi
nr oce nu oce nz oce om asi pa amc pe ams pf oce pg oce ph asi pk asi pl eur pm amn
pn oce pr amc ps asi pt eur pw oce py ams qa asi re afr ro eur rs eur ru eur rw afr
sa asi sb oce sc afr sd afr se eur sg asi sh afr si eur sj eur sk eur sl afr sm eur
sn afr so afr sr ams ss afr st afr sv amc sx amc sy asi sz afr tc amc td afr tf ant
tg afr th asi tj asi tk oce tl asi tm asi tn afr to oce tr eur tt amc tv oce tw asi
tz afr ua eur ug afr um oce us amn uy ams uz asi va eur vc amc ve ams vg amc vi amc
vn asi vu oce wf oce ws oce ye asi yt afr za afr zm afr zw afr
"""


def countries():
    entries = json.load(open("/usr/share/iso-codes/json/iso_3166-1.json", encoding="utf-8"))
    continent = dict(zip(CONTINENTS.split()[0::2], CONTINENTS.split()[1::2]))
    rows = []
    for entry in entries["3166-1"]:
        code = entry["alpha_2"]
        name = NAME_OVERRIDES.get(code) or entry.get("common_name") or entry["name"]
        cont = continent.get(code.lower())
        if cont is None:
            sys.exit(f"no continent for {code}")
        rows.append((code.lower(), name, cont))
    rows.sort()
    if len(rows) != 249:
        sys.exit(f"expected 249 ISO 3166-1 codes, found {len(rows)}")
    lines = [
        "//! ISO 3166-1 alpha-2 countries: code, English short name, Matomo continent code.",
        "//! Generated by `src/enrich/data/convert.py`; do not edit by hand.",
        "",
        "/// `(code, name, continent)`, sorted by code (lower case).",
        "pub(super) const COUNTRIES: &[(&str, &str, &str)] = &[",
    ]
    for code, name, cont in rows:
        lines.append(f"    ({json.dumps(code)}, {json.dumps(name, ensure_ascii=False)}, {json.dumps(cont)}),")
    lines.append("];")
    return lines


def write(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    write(os.path.join(HERE, "search_engines.txt"), search_engines(sys.argv[1]))
    write(os.path.join(HERE, "socials.txt"), socials(sys.argv[2]))
    write(os.path.join(HERE, "..", "countries.rs"), countries())


if __name__ == "__main__":
    main()
