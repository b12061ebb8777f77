import { BookCard } from "./components/BookCard.js";

const books = [
  { title: "Dune", author: "Frank Herbert", price: 9.99 },
  { title: "The Pragmatic Programmer", author: "Andrew Hunt", price: 39.95 },
];

const cards = books.map(BookCard).join("");
document.getElementById("app").innerHTML = `<section class="book-cards">${cards}</section>`;
