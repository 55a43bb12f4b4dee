//! Export and import of translations (CSV and PO) for translators.
