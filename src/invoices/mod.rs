//! Invoices (发票): titles (抬头) of buyers and organisations, invoice requests per cooperative
//! part of an order or consolidated per organisation, cooperative and month, the cooperative's
//! upload of the e-invoice (PDF or OFD), and the red invoice a later refund calls for; and the
//! aid-procurement targets and report (`procurement`), the other paperwork these buyers send up;
//! and reconciliation: confirming or disputing a month's statement (`statements`).

pub mod model;
pub mod pages;
pub mod procurement;
pub mod routes;
pub mod service;
pub mod statements;
