"""How well "no motif in the archive matches this description" works (not a test): prompts a
visitor might type, none of them among the calibration prompts of inference/engines/prompt.py,
matched against the seed catalogue with the shipped sentence encoder. Prints each prompt's best
motif and similarity, the calibrated threshold, and the share of on-topic prompts answered with
motifs beside the share of off-topic prompts wrongly answered with motifs.

    .venv/bin/python bench/prompt_topics.py [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Describe a motif of the archive, by name, by what it shows, or loosely, in either language.
ON_TOPIC = (
    "merak", "red peacock with gold", "burung merak biru", "kepiting merah", "a crab with big claws",
    "kucing tidur", "a sleeping cat", "kuda laut emas", "golden seahorses", "naga betarung", "two dragons fighting",
    "ubur-ubur", "jellyfish in the sea", "bebek setaman", "ducks in a flower garden", "pucuk rebung",
    "bamboo shoot triangles", "burung hong", "a phoenix with long tail feathers", "kembang kenanga kuning",
    "ylang-ylang flowers", "kembang rukem", "kembang setangkai", "a single flower on a stem", "kembang setaman",
    "a garden full of flowers", "bebek dan bunga sumping", "peacock and flowers", "crab and seahorse",
    "bunga kenanga dan merak",
)
# Describe something no batik motif of the archive shows.
OFF_TOPIC = (
    "mobil biru di jalan raya", "a blue car on a highway", "laptop dan keyboard", "a laptop keyboard",
    "pesawat terbang di bandara", "an airplane at the airport", "gedung pencakar langit", "skyscrapers at night",
    "nasi goreng pedas", "spicy fried rice", "pertandingan sepak bola", "a football match in a stadium",
    "layar ponsel", "a smartphone screen", "kereta api listrik", "an electric train", "jam tangan emas",
    "a gold wrist watch", "sepeda motor balap", "a racing motorcycle", "rumah sakit", "a hospital corridor",
    "formulir pajak penghasilan", "an income tax form", "hasil pemilu", "election results", "asdfgh qwerty",
    "hello world", "database migration", "a spreadsheet of sales figures",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from inference.engines.prompt import MotifText, PromptEncoder
    from motifs.catalogue import MOTIFS

    motifs = [MotifText.from_mapping(m) for m in MOTIFS]
    encoder = PromptEncoder.load(threads=2)
    rows = []
    for topic, prompts in (("on", ON_TOPIC), ("off", OFF_TOPIC)):
        for prompt in prompts:
            match = encoder.match(prompt, motifs)
            slug, similarity = match.similarities[0]
            rows.append({"topic": topic, "prompt": prompt, "best": slug, "similarity": round(similarity, 4),
                         "answered_with_motifs": not match.off_topic})
    calibration = match.calibration.as_dict()
    for row in rows:
        print(f"{row['topic']:>3}  {row['similarity']:.3f}  {'motifs ' if row['answered_with_motifs'] else 'nothing'}"
              f"  {row['best']:22s} {row['prompt']}")

    def share(topic):
        chosen = [row for row in rows if row["topic"] == topic]
        return sum(row["answered_with_motifs"] for row in chosen) / len(chosen), len(chosen)

    on, n_on = share("on")
    off, n_off = share("off")
    print(f"\nthreshold {calibration['threshold']:.3f} (off-topic calibration prompts reach {calibration['off_topic_max']:.3f},"
          f" the catalogue's own names at least {calibration['on_topic_min']:.3f})")
    print(f"on-topic prompts answered with motifs: {on:.3f} of {n_on}    off-topic answered with motifs: {off:.3f} of {n_off}")
    if args.json:
        args.json.write_text(json.dumps({"calibration": calibration, "on_topic_accepted": on, "off_topic_accepted": off,
                                         "rows": rows}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
