"""moto's server, with each DynamoDB request run alone, and without its DynamoDB leak.

moto's server runs requests on concurrent threads, and its TransactWriteItems rolls a failed
transaction back by putting back a copy of the whole table taken when the transaction began
(moto/dynamodb/models/__init__.py, `transact_write_items`, moto 5.2.5): every write another
request made in between is lost, after it was acknowledged. DynamoDB never loses an acknowledged
write, and the refresh protocol relies on that (a refresh's conditional transaction fails
whenever another refresh won, while token hand-outs and audit entries are written beside it).
One lock around moto's DynamoDB handler gives each request the isolation DynamoDB gives it;
moto holds the GIL throughout anyway, so nothing runs slower. The other services are untouched
(an SQS long poll must not hold the lock).

Run as `python dev/moto_server.py -H 127.0.0.1 -p PORT`, moto_server's own arguments.
"""

import threading

from moto.core.model_instances import model_data
from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_one_at_a_time = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _one_at_a_time:
        return _call_action(self)


DynamoHandler.call_action = _serialized_call_action


class _Untracked(list):
    """A list that keeps nothing."""

    def append(self, _instance):
        pass


# moto records every model instance it ever creates, for its web dashboard only
# (moto/core/common_models.py, `BaseModel.__new__`). Each TransactWriteItems deep-copies the
# whole table, so every copied item stayed reachable: moto grew by the table's size per
# transaction (1.4 MB per 2-item transaction over a 1,000-item table) until the machine ran
# out. DynamoDB's models are not recorded; nothing here uses the dashboard.
for _model in model_data["dynamodb"].values():
    _model.instances_tracked = _Untracked()

if __name__ == "__main__":
    main()
