# Our own rule on top of airlock's defaults: an agent that sees customer data
# may read and write through its tools, never execute.
package airlock

deny contains reason("C6", sprintf("tool %q has execute access on customer data; agents on customer data may read and write, never execute", [t.name])) if {
	input.agent.data_sensitivity == "customer"
	some t in input.agent.tools
	t.access == "execute"
}
