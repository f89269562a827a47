"""The service layer: every read and every state change the API, the console and the CLI offer.

Interfaces (`workers/admin`, `workers/console`, `workers/cli`) parse a request, call a service, present its answer.
A service takes a Session (it opens no transaction of its own: the interface's request or command is the
transaction) and sends the triggers that follow its change after commit (`triggers`), so no interface imports
`workers.tasks`. Below it are the stages (`ingest`, `processing`, `delivery`, `privacy`, `integrations`) and
`models`/`mapping`; nothing below imports this package.
"""
