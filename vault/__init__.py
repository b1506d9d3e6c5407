"""The vault: keys, envelope encryption, blind index, subjects and records, behind one `Vault` object."""
