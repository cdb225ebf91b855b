"""The simulation kit the emulators and the paper venue share: matching, accounts, exchange, serving, hours."""
