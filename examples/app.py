"""A small program to profile: find probable duplicate customers in an address book.

It builds a deterministic address book with some misspelt copies of earlier entries, cleans
the names, compares every pair of names with a pure-Python edit distance, groups the
duplicates and writes a summary. Run it under pyinstr:

    make example

and the report shows where its two to three seconds go: almost all of it in edit_distance,
called from find_duplicates (the obvious fix: compare only names that share a first letter or
a length band, or use a C implementation).
"""
import collections
import json
import random
import sys

FIRST = ["Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "Guido",
         "John", "Ken", "Margaret", "Niklaus", "Radia", "Sophie", "Tim", "Whitfield", "Yukihiro"]
LAST = ["Lovelace", "Turing", "Liskov", "Shannon", "Knuth", "Dijkstra", "Allen", "Hopper",
        "van Rossum", "McCarthy", "Thompson", "Hamilton", "Wirth", "Perlman", "Wilson",
        "Berners-Lee", "Diffie", "Matsumoto"]
CITIES = ["Amsterdam", "Berlin", "Cambridge", "Lisbon", "Oslo", "Palo Alto", "Tokyo", "Zurich"]


def make_address_book(rng, size):
    """Random customers; about one in eight is a misspelt copy of an earlier one."""
    book = []
    for i in range(size):
        if book and rng.random() < 0.125:
            original = rng.choice(book)
            book.append(dict(original, id=i, name=misspell(rng, original["name"])))
        else:
            name = "%s %s" % (rng.choice(FIRST), rng.choice(LAST))
            book.append({"id": i, "name": name, "city": rng.choice(CITIES),
                         "orders": rng.randint(0, 40)})
    return book


def misspell(rng, name):
    chars = list(name)
    pos = rng.randrange(len(chars))
    kind = rng.choice(("swap", "drop", "double", "case"))
    if kind == "swap" and pos + 1 < len(chars):
        chars[pos], chars[pos + 1] = chars[pos + 1], chars[pos]
    elif kind == "drop":
        del chars[pos]
    elif kind == "double":
        chars.insert(pos, chars[pos])
    else:
        chars[pos] = chars[pos].swapcase()
    return "".join(chars)


def normalise(name):
    return " ".join(name.lower().replace("-", " ").split())


def edit_distance(a, b):
    """Levenshtein distance, the textbook dynamic programme: the hot spot."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return previous[-1]


def find_duplicates(book, max_distance=2):
    """Every pair of customers in the same city whose names are nearly the same."""
    names = [normalise(c["name"]) for c in book]
    pairs = []
    for i in range(len(book)):
        for j in range(i + 1, len(book)):
            if book[i]["city"] != book[j]["city"]:
                continue
            if edit_distance(names[i], names[j]) <= max_distance:
                pairs.append((book[i]["id"], book[j]["id"]))
    return pairs


def group(pairs):
    """Union-find over the duplicate pairs: one group per real customer."""
    parent = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for a, b in pairs:
        parent[root(a)] = root(b)
    groups = collections.defaultdict(list)
    for x in list(parent):
        groups[root(x)].append(x)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def summarise(book, groups):
    by_id = {c["id"]: c for c in book}
    merged_orders = sorted(((sum(by_id[i]["orders"] for i in g), by_id[g[0]]["name"], len(g))
                            for g in groups), reverse=True)
    return {
        "customers": len(book),
        "duplicate_groups": len(groups),
        "records_to_merge": sum(len(g) - 1 for g in groups),
        "top_customers_after_merge": [{"name": n, "orders": o, "records": k}
                                      for o, n, k in merged_orders[:5]],
    }


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rng = random.Random(2024)
    book = make_address_book(rng, size)
    pairs = find_duplicates(book)
    groups = group(pairs)
    summary = summarise(book, groups)
    print("%(customers)d customers, %(duplicate_groups)d groups of duplicates, "
          "%(records_to_merge)d records to merge" % summary)
    print("top customers after merging: " + json.dumps(summary["top_customers_after_merge"][:3]))


if __name__ == "__main__":
    main()
