"""official_td: token dropping for efficient BERT pretraining (Hou et al., ACL 2022)."""
