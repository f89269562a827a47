"""Privacy: erasure of a person here and in SendGrid, no resurrection of an erased person, and retention."""
