package airlock_test

import data.airlock

customer_agent(tools) := {"agent": {"data_sensitivity": "customer", "tools": tools}}

execute_denials(inp) := {r.message | some r in denied; contains(r.message, "execute access")} if {
	denied := airlock.deny with input as inp
}

test_execute_on_customer_data_denied if {
	msgs := execute_denials(customer_agent([{"name": "refund-issue", "access": "execute"}]))
	msgs == {`tool "refund-issue" has execute access on customer data; agents on customer data may read and write, never execute`}
}

test_write_on_customer_data_allowed if {
	count(execute_denials(customer_agent([{"name": "ticket-update", "access": "write"}]))) == 0
}
