"""gen_sqlite.py N — print a deterministic SQL workload for sqlite3.

Tables of customers, products and orders (~N rows inserted overall), then
updates, deletes, indexes, joins, group-bys, window functions, recursive CTEs,
a blob table and a VACUUM.  Every query's output goes to stdout, and
'.print @@ name' lines separate them so the runner can hash each one.
"""
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
rng = random.Random(20251126)
w = sys.stdout.write

words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
         "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
         "xray", "yankee", "zulu", "ünïcödé", "日本語", "ĸøŋ"]

def text(k):
    return " ".join(rng.choice(words) for _ in range(k)).replace("'", "''")

def q(name, sql):
    w(f".print @@ {name}\n{sql}\n")

w("PRAGMA cache_size=-65536;\nPRAGMA journal_mode=WAL;\nPRAGMA synchronous=OFF;\n.headers off\n.mode list\n")
w("CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT, city TEXT, score REAL);\n")
w("CREATE TABLE product(id INTEGER PRIMARY KEY, title TEXT, price INTEGER, tags TEXT);\n")
w("CREATE TABLE orders(id INTEGER PRIMARY KEY, cust INTEGER, prod INTEGER, qty INTEGER,"
  " note TEXT, day INTEGER);\n")
w("CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB);\n")

ncust, nprod = n // 20, n // 40
norders = n - ncust - nprod
w("BEGIN;\n")
for i in range(1, ncust + 1):
    w(f"INSERT INTO customer VALUES({i},'{text(2)}','{rng.choice(words)}',"
      f"{rng.randint(0, 100000) / 100});\n")
for i in range(1, nprod + 1):
    w(f"INSERT INTO product VALUES({i},'{text(rng.randint(1, 6))}',{rng.randint(1, 99999)},"
      f"'{text(rng.randint(0, 12))}');\n")
for i in range(1, norders + 1):
    w(f"INSERT INTO orders VALUES({i},{rng.randint(1, ncust)},{rng.randint(1, nprod)},"
      f"{rng.randint(1, 50)},'{text(rng.randint(0, 20))}',{rng.randint(0, 999)});\n")
    if i % 20000 == 0:
        w("COMMIT;\nBEGIN;\n")
w("COMMIT;\n")
# blobs of many sizes (up to 256 KiB) made by SQL itself
w("INSERT INTO blobs(id, data) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c"
  " WHERE x < 3000) SELECT x, CAST(printf('%.*c', (x * 7919) % 262144, char(65 + x % 26)) AS BLOB) FROM c;\n")
w("UPDATE blobs SET data = CAST(printf('%.*c', length(data) % 5000, 'z') AS BLOB) || data"
  " WHERE id % 3 = 0;\n")

q("counts", "SELECT (SELECT count(*) FROM customer),(SELECT count(*) FROM product),"
  "(SELECT count(*) FROM orders),(SELECT sum(length(data)) FROM blobs);")
w("CREATE INDEX orders_cust ON orders(cust);\nCREATE INDEX orders_prod ON orders(prod, qty);\n")
w("CREATE INDEX customer_city ON customer(city, score);\n")
w("CREATE INDEX product_title ON product(title);\n")
w("BEGIN;\n")
for i in range(2000):
    a = rng.randint(1, norders)
    w(f"UPDATE orders SET qty = qty + {rng.randint(1, 9)}, note = note || ' {rng.choice(words)}'"
      f" WHERE id BETWEEN {a} AND {a + 40};\n")
for i in range(1000):
    a = rng.randint(1, norders)
    w(f"DELETE FROM orders WHERE id BETWEEN {a} AND {a + rng.randint(0, 30)};\n")
w("UPDATE customer SET score = score * 1.5 WHERE city IN ('alpha','zulu','日本語');\n")
w("DELETE FROM product WHERE price % 97 = 0;\n")
w("UPDATE product SET tags = upper(tags) || replace(title, 'a', 'AA') WHERE id % 5 = 1;\n")
w("COMMIT;\n")

q("integrity1", "PRAGMA integrity_check;")
q("join_city", "SELECT c.city, count(*), sum(o.qty), sum(o.qty * p.price) FROM orders o"
  " JOIN customer c ON c.id = o.cust JOIN product p ON p.id = o.prod"
  " GROUP BY c.city ORDER BY c.city;")
q("top_customers", "SELECT c.id, c.name, sum(o.qty * p.price) AS spent FROM orders o"
  " JOIN customer c ON c.id = o.cust JOIN product p ON p.id = o.prod"
  " GROUP BY c.id ORDER BY spent DESC, c.id LIMIT 200;")
q("by_day", "SELECT day, count(*), avg(qty), max(length(note)) FROM orders"
  " GROUP BY day HAVING count(*) > 10 ORDER BY day;")
q("window", "SELECT id, cust, qty, sum(qty) OVER (PARTITION BY cust ORDER BY id"
  " ROWS BETWEEN 3 PRECEDING AND CURRENT ROW), rank() OVER (PARTITION BY cust ORDER BY qty DESC, id)"
  " FROM orders WHERE cust % 97 = 5 ORDER BY cust, id;")
q("notes", "SELECT group_concat(note, '|') FROM (SELECT note FROM orders WHERE id % 1000 = 7"
  " ORDER BY id);")
q("orphans", "SELECT count(*) FROM orders WHERE prod NOT IN (SELECT id FROM product);")
q("distinct", "SELECT count(DISTINCT note), count(DISTINCT cust || '-' || prod) FROM orders;")
q("like", "SELECT count(*), sum(length(title)) FROM product WHERE title LIKE '%kilo%'"
  " OR tags GLOB '*ZULU*';")
q("blobs", "SELECT id % 10, count(*), sum(length(data)), hex(substr(max(data), 1, 16))"
  " FROM blobs GROUP BY id % 10 ORDER BY 1;")
q("cte", "WITH RECURSIVE fib(a, b, k) AS (SELECT 0, 1, 0 UNION ALL SELECT b, a + b, k + 1"
  " FROM fib WHERE k < 80) SELECT group_concat(a) FROM fib;")
q("sorted_text", "SELECT name FROM customer ORDER BY name DESC, id LIMIT 500;")
w("CREATE TEMP TABLE big AS SELECT o.*, p.title, c.name FROM orders o JOIN product p"
  " ON p.id = o.prod JOIN customer c ON c.id = o.cust;\n")
q("temp_big", "SELECT count(*), sum(length(title) + length(name) + length(note)) FROM big;")
w("DROP TABLE big;\nDELETE FROM blobs WHERE id % 2 = 0;\nVACUUM;\n")
q("after_vacuum", "SELECT count(*), sum(length(data)) FROM blobs;")
q("integrity2", "PRAGMA integrity_check;")
