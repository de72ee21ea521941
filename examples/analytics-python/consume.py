"""Reads tenantflow's event stream as the analytics principal, in Python.

A second-language consumer beside the Go reference (cmd/analytics-consumer):
it signs in with TLS and SASL/SCRAM-SHA-512 as tenantflow-analytics, which the
brokers' ACLs let read the event topics and nothing more, and prints one JSON
line per record: the CloudEvents headers it needs (ce_id, ce_type,
ce_subject, ce_schemaversion) and the record's value (streamVersion, data).
Duplicates are possible (the relay publishes at least once): deduplicate by
ce_id. One stream (the record key, tenant-<id>) is in order within its
partition.

Settings come from the environment, named as tenantflow's own:
TENANTFLOW_KAFKA_BROKERS, TENANTFLOW_KAFKA_TOPIC, TENANTFLOW_KAFKA_USERNAME,
TENANTFLOW_KAFKA_PASSWORD, TENANTFLOW_KAFKA_TLS_CA_FILE; the group with
--group (the ACLs allow analytics* and test-*).
"""

import argparse
import json
import os
import sys

from confluent_kafka import Consumer, KafkaException


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", default="analytics-python")
    parser.add_argument("--max", type=int, default=0, help="stop after this many records (0: never)")
    parser.add_argument("--idle-timeout", type=float, default=0, help="stop after this many seconds without a record (0: never)")
    args = parser.parse_args()

    conf = {
        "bootstrap.servers": os.environ["TENANTFLOW_KAFKA_BROKERS"],
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": os.environ["TENANTFLOW_KAFKA_USERNAME"],
        "sasl.password": os.environ["TENANTFLOW_KAFKA_PASSWORD"],
    }
    if os.environ.get("TENANTFLOW_KAFKA_TLS_CA_FILE"):
        conf["ssl.ca.location"] = os.environ["TENANTFLOW_KAFKA_TLS_CA_FILE"]
    consumer = Consumer(conf)
    consumer.subscribe([os.environ.get("TENANTFLOW_KAFKA_TOPIC", "tenant.events.v1")])
    seen, idle = 0, 0.0
    try:
        while not args.max or seen < args.max:
            msg = consumer.poll(1.0)
            if msg is None:
                idle += 1.0
                if args.idle_timeout and idle >= args.idle_timeout:
                    break
                continue
            idle = 0.0
            if msg.error():
                raise KafkaException(msg.error())
            headers = {k: v.decode() for k, v in (msg.headers() or []) if k.startswith("ce_")}
            value = json.loads(msg.value())
            print(json.dumps({"key": msg.key().decode() if msg.key() else None, "partition": msg.partition(),
                              "offset": msg.offset(), **headers,
                              "streamVersion": value.get("streamVersion"), "data": value.get("data")}), flush=True)
            seen += 1
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
