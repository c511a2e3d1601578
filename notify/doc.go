// Package notify owns everything refdesk sends: rendering the embedded (or
// overridden) templates into text + HTML mail with the headers of SPEC §6,
// and the outbox sender that delivers queued messages over one persistent
// SMTP connection with backoff, telling temporary failures from permanent
// ones.
//
// It reads the outbox through the small Outbox interface (implemented by
// store) and never writes records other than an outbox row's delivery state.
// It never logs addresses of clients or the content of a message: logs carry
// outbox references (O-12) and kinds.
package notify
