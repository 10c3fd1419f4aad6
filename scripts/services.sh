# Sourced by scripts/test: make sure PostgreSQL and Redis answer on loopback, starting them
# where their server programs are installed, and saying exactly what is missing where not.
PG_URL="${TIGW_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"
REDIS_URL_TEST="${TIGW_TEST_REDIS:-redis://127.0.0.1:6379/0}"
SERVICES_PYTHON="${SERVICES_PYTHON:-.venv/bin/python}"  # any Python with redis and psycopg

redis_up() { "$SERVICES_PYTHON" -c "import redis,sys; redis.Redis.from_url('$REDIS_URL_TEST', socket_connect_timeout=1).ping()" 2>/dev/null; }
postgres_up() { "$SERVICES_PYTHON" -c "import psycopg; psycopg.connect('$PG_URL', connect_timeout=2).close()" 2>/dev/null; }

if ! redis_up; then
    if command -v redis-server >/dev/null; then
        echo "Starting Redis on 127.0.0.1:6379"
        mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
            --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
        for _ in $(seq 50); do redis_up && break; sleep 0.2; done
    fi
    redis_up || { echo "Redis is not reachable at $REDIS_URL_TEST and redis-server is not installed (apt-get install redis-server)." >&2; exit 1; }
fi

if ! postgres_up; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        version="$(ls /etc/postgresql | sort -V | tail -n 1)"
        echo "Starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        for _ in $(seq 50); do postgres_up && break; sleep 0.2; done
    fi
    postgres_up || { echo "PostgreSQL is not reachable at $PG_URL (trust auth for user postgres, database test) and no local cluster could be started (apt-get install postgresql)." >&2; exit 1; }
fi
