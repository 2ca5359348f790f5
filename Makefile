# Forwards every target to trunk/Makefile.
.PHONY: all test bench install clean help
all test bench install clean help:
	$(MAKE) -C trunk $@
